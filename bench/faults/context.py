"""What every scenario is given: the plan, the stack and the main server."""

from __future__ import annotations

from dataclasses import dataclass

from bench.faults.plan import Plan
from bench.services import Gunicorn, Stack


@dataclass
class Context:
    plan: Plan
    stack: Stack
    server: Gunicorn

"""A scenario's verdict: pass or fail, its figures, problems and notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Result:
    number: str
    title: str
    passed: bool = False
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def fail(self, problem: str) -> None:
        self.problems.append(problem)

    def require(self, condition: bool, problem: str) -> None:
        if not condition:
            self.fail(problem)

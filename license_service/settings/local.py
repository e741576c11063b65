"""Developer settings: `make run`. Debug toolbar-free, SQLite unless DATABASE_URL is set."""

from __future__ import annotations

from .base import *
from .base import env

DEBUG = env.bool("DEBUG", default=True)

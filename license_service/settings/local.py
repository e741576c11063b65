"""Developer settings: `make run`. Debug toolbar-free, SQLite unless DATABASE_URL is set."""

from __future__ import annotations

from .base import *
from .base import env

DEBUG = env.bool("DEBUG", default=True)

# Webhooks to plain http (a receiver on this machine) are fine while developing.
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=True)

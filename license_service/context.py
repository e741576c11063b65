"""Per-request context (request id, client IP) for audit rows and logs.

Set once by ``RequestIdMiddleware``; read by ``audit.services.audit_record`` so services
do not need the request passed down to them.
"""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
client_ip_var: ContextVar[str | None] = ContextVar("client_ip", default=None)

"""The one place the service reaches into redis-py past its public API: a connection's socket.

The near cache (``activations.check.near``) must apply every invalidation waiting on its
channel before it serves an entry. redis-py's public ``Connection.can_read(timeout=0)`` does
that check with three system calls (the socket made non-blocking, a ``recv``, then blocking
again), and it reads into the parser's buffer, so it can only run under the near cache's
lock: every check of the process queues on that lock behind those system calls. A ``poll``
of the socket's descriptor is one system call that reads nothing, so it runs before the lock
is taken, and the lock is only held for a dictionary lookup when the socket is quiet.
Measured in ``bench/MEASUREMENTS.md`` (the check path on public redis-py API).

Written for redis-py 7.4.1 (``WRITTEN_FOR``; tests/activations/test_near_cache.py pins it):
on an upgrade, check that ``Connection._sock`` is still the connected socket (or None).
"""

from __future__ import annotations

import select
import ssl
from typing import Any

WRITTEN_FOR = "7.4.1"


def socket_fd(connection: Any) -> int | None:
    """The descriptor of a connected redis-py ``Connection``'s socket; None when it has
    none, or when it is TLS (decrypted bytes can wait inside the TLS object while the
    descriptor is quiet: only ``can_read`` sees them)."""
    sock = connection._sock  # noqa: SLF001 (this module's purpose, see its docstring)
    if sock is None or isinstance(sock, ssl.SSLSocket):
        return None
    fd: int = sock.fileno()
    return fd


def readable(fd: int) -> bool:
    """Whether the socket has data (or an error) waiting: one ``poll`` system call, on a
    poll object of this call's own (one object cannot be polled by two threads)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))

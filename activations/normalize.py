"""Instance identifiers (SPEC §6), normalized so one site or machine holds one seat.

A value that is an http(s) URL or a bare host name becomes ``host[:port][/path]``: host
lower-cased, ``http``/``https`` alike (the scheme is dropped), leading ``www.`` dropped,
the default port (80 and 443, since the scheme is gone) dropped, trailing slashes dropped,
the path kept as typed (``example.com/blog`` is another site than ``example.com``), user
info, query and fragment dropped. Anything else (machine ids, UUIDs, …) is only trimmed.

A bare host needs a dot (``example.com``, ``10.0.0.7``), or is ``localhost`` or a
bracketed IPv6 address, so a machine id such as ``BUILD-AGENT-7`` is never lower-cased.
With an explicit ``http(s)://`` any host without whitespace is accepted (``http://intranet``,
international names).

The function is pure and idempotent: normalizing a normalized value changes nothing.
"""

from __future__ import annotations

import re

MAX_INSTANCE_IDENTIFIER_LENGTH = 255
# Raw input may be a long URL whose query string is dropped; anything longer is abuse.
MAX_INSTANCE_IDENTIFIER_INPUT_LENGTH = 2048

_SCHEME = re.compile(r"https?://", re.IGNORECASE)
_AUTHORITY_END = re.compile(r"[/?#]")
_PATH_END = re.compile(r"[?#]")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_BARE_HOST = re.compile(rf"(?:{_LABEL}\.)+{_LABEL}|localhost|\[[0-9a-f:.]+\]")
_IPV6_AUTHORITY = re.compile(r"(\[[^\]]*\])(?::(.*))?", re.DOTALL)
_PORT = re.compile(r"[0-9]{1,5}")
_DEFAULT_PORTS = {80, 443}


def normalize_instance_identifier(raw: str) -> str:
    """The canonical form of an instance identifier. Length is not checked here."""
    value = raw.strip()
    normalized = _normalize_url(value)
    return value if normalized is None else normalized


def _normalize_url(value: str) -> str | None:
    """``host[:port][/path]`` if ``value`` is an http(s) URL or a bare host, else None."""
    scheme = _SCHEME.match(value)
    rest = value[scheme.end() :] if scheme else value
    end = _AUTHORITY_END.search(rest)
    authority, tail = (rest[: end.start()], rest[end.start() :]) if end else (rest, "")
    if scheme:
        authority = authority.rpartition("@")[2]
    split = _split_port(authority)
    if split is None:
        return None
    host, port = split
    host = host.lower().rstrip(".")
    if not host or any(char.isspace() for char in host):
        return None
    if ":" in host and not host.startswith("["):
        return None
    if not scheme and not _BARE_HOST.fullmatch(host):
        return None
    while host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    path = tail[: m.start()] if (m := _PATH_END.search(tail)) else tail
    while path and (path[-1] == "/" or path[-1].isspace()):
        path = path[:-1]
    port_part = "" if port is None or port in _DEFAULT_PORTS else f":{port}"
    return f"{host}{port_part}{path}"


def _split_port(authority: str) -> tuple[str, int | None] | None:
    """(host, port) of ``host[:port]``; None when the port is not a port number."""
    ipv6 = _IPV6_AUTHORITY.fullmatch(authority)
    if ipv6:
        host, port_text = ipv6.group(1), ipv6.group(2)
    elif ":" in authority:
        host, _, port_text = authority.rpartition(":")
    else:
        host, port_text = authority, None
    if not port_text:
        return host, None
    if not _PORT.fullmatch(port_text) or int(port_text) > 65535:
        return None
    return host, int(port_text)


def instance_identifier_problem(value: str) -> str | None:
    """Why a normalized identifier cannot be stored, or None if it can."""
    if not value:
        return "Must not be empty."
    if len(value) > MAX_INSTANCE_IDENTIFIER_LENGTH:
        return f"Must be at most {MAX_INSTANCE_IDENTIFIER_LENGTH} characters once normalized."
    if any(0xD800 <= ord(char) < 0xE000 for char in value):
        return "Unpaired surrogates are not allowed."
    if any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in value):
        return "Control characters are not allowed."
    return None

"""Instance identifiers (SPEC §6), normalized so one site or machine holds one seat.

A value that is an http(s) URL or a bare host name becomes ``host[:port][/path]``:

- parsed by the WHATWG URL standard (ada, the parser Node.js uses), as a browser reads what
  a site's owner typed: a backslash is a slash, tabs and newlines inside are dropped, the
  user info is dropped (``http://example.com\\@evil.com`` is ``example.com/@evil.com``), a
  percent-encoded or numeric host is decoded (``0x7f.1`` is ``127.0.0.1``), dot segments of
  the path are resolved and its spaces percent-encoded;
- the host in its one ASCII form (``license_service.hostnames``: UTS #46 with NFKC case
  folding, then punycode), so ``exämple.com``, fullwidth ``ｅｘäｍｐｌｅ.com`` and
  ``xn--exmple-cua.com`` are one site; trailing dots and leading ``www.`` dropped;
- ``http``/``https`` alike (the scheme is dropped), so the default ports 80 and 443 are
  dropped; trailing slashes dropped; the path kept (``example.com/blog`` is another site
  than ``example.com``); query and fragment dropped.

Anything else (machine ids, UUIDs, …) is only trimmed. A bare host needs a dot
(``example.com``, ``exämple.com``, ``10.0.0.7``), or is ``localhost`` or a bracketed IPv6
address, and has no user info; a bare name ending in a number is a host only as a dotted
quad. So neither ``BUILD-AGENT-7``, ``user@example.com`` nor ``2024.01.15`` is ever
rewritten. With an explicit ``http(s):`` any host is accepted (``http://intranet``).

A URL, or a bare host, whose host is not a valid host name (no host, a code point that
UTS #46 disallows, a label over 63 octets, bad punycode) is refused with
``InvalidInstanceIdentifier``: such a value names no site, and storing it as typed would let
spellings of one site hold several seats.

The function is pure and idempotent: normalizing a normalized value changes nothing.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from ada_url import URL, HostType

from license_service.hostnames import ascii_hostname_problem

MAX_INSTANCE_IDENTIFIER_LENGTH = 255
# Raw input may be a long URL whose query string is dropped; anything longer is abuse.
MAX_INSTANCE_IDENTIFIER_INPUT_LENGTH = 2048

_SCHEME = re.compile(r"https?:", re.IGNORECASE)
_TAB_OR_NEWLINE = str.maketrans("", "", "\t\n\r")
_TAB_OR_NEWLINE_CHAR = re.compile(r"[\t\n\r]")
_AUTHORITY_END = re.compile(r"[/\\?#]")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_BARE_HOST = re.compile(rf"(?:{_LABEL}\.)+{_LABEL}|localhost|\[[0-9a-f:.]+\]")
_IPV6_AUTHORITY = re.compile(r"(\[[^\]]*\])(?::(.*))?", re.DOTALL)
_PORT = re.compile(r"[0-9]{1,5}")
_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# UTS #46 maps these to "." (NFKC already maps the fullwidth one).
_IDEOGRAPHIC_FULL_STOPS = str.maketrans({"\u3002": ".", "\uff61": "."})
_DEFAULT_PORTS = {80, 443}
# The common shape, for which the WHATWG parse changes nothing but the case of the host:
# ASCII dotted names (no xn--, the last label not a number), a port, a path of characters
# that are never percent-encoded (no %, no backslash), then anything after ? or #.
# The check path normalizes every identifier it is given, so this spares it the parser.
_FAST = re.compile(
    rf"(?:https?://)?(?P<host>(?:{_LABEL}\.)+[a-z](?:[a-z0-9_-]{{0,61}}[a-z0-9_])?)"
    r"(?::(?P<port>[0-9]{1,5}))?(?P<path>/[a-z0-9._~!$&'()*+,;=:@/-]*)?(?:[?#].*)?",
    re.IGNORECASE | re.DOTALL,
)
_MAX_FAST_HOST_LENGTH = 253
_MAX_PORT = 65535
# What an identifier may not hold once normalized: a lone surrogate (U+D800-U+DFFF), a C0
# or C1 control character (U+0000-U+001F, U+007F-U+009F).
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class InvalidInstanceIdentifier(ValueError):
    """A URL or host name that names no valid host; the message says why."""


def normalize_instance_identifier(raw: str) -> str:
    """The canonical form of an instance identifier. Length is not checked here.
    Raises InvalidInstanceIdentifier."""
    value = raw.strip()
    fast = _fast_normalize(value)
    if fast is not None:
        return fast
    if _SCHEME.match(value) or (
        _TAB_OR_NEWLINE_CHAR.search(value) and _SCHEME.match(value.translate(_TAB_OR_NEWLINE))
    ):
        return _normalize_url(value)
    if _is_bare_host(value):
        return _normalize_url(f"http://{value}")
    return value


def _fast_normalize(value: str) -> str | None:
    """The normal form of a plain ASCII URL or host, without the parser; None if not one."""
    match = _FAST.fullmatch(value)
    if match is None:
        return None
    host, port, path = match.group("host", "port", "path")
    if len(host) > _MAX_FAST_HOST_LENGTH or "xn--" in host.lower():
        return None
    if port is not None and int(port) > _MAX_PORT:
        return None
    if path is not None and "/." in path:
        return None  # maybe a dot segment: the parser resolves those
    return _assemble(host.lower(), port, path or "")


def _assemble(host: str, port: str | None, path: str) -> str:
    while host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    port_part = "" if not port or int(port) in _DEFAULT_PORTS else f":{int(port)}"
    return f"{host}{port_part}{path.rstrip('/')}"


def is_host_identifier(identifier: str) -> bool:
    """Whether a normalized identifier names a host (``host[:port][/path]``), not a machine."""
    return _is_bare_host(identifier)


def _is_bare_host(value: str) -> bool:
    """Whether ``value`` (no scheme) reads as ``host[:port][/path…]``."""
    end = _AUTHORITY_END.search(value)
    authority = value[: end.start()] if end else value
    if "@" in authority:
        return False
    host = _host_of(authority)
    if host is None:
        return False
    if not host.isascii():
        host = unicodedata.normalize("NFKC", host).translate(_IDEOGRAPHIC_FULL_STOPS)
        if any(not char.isascii() and unicodedata.category(char)[0] not in "LMN" for char in host):
            return False
        # Letters, marks and digits of any script stand where an ASCII letter may.
        host = _NON_ASCII.sub("a", host)
    host = host.lower().rstrip(".")
    if _BARE_HOST.fullmatch(host) is None:
        return False
    if _NUMBER.fullmatch(host.rpartition(".")[2]):
        # WHATWG reads a name ending in a number as an IPv4 address, in any of its old
        # forms (``1.2.3`` is 1.2.0.3). Without a scheme only a dotted quad is one: a
        # version or a date (``2024.01.15``) is a machine id, as it always was.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
    return True


def _host_of(authority: str) -> str | None:
    """The host of ``host[:port]``; None when the port is not a port number."""
    ipv6 = _IPV6_AUTHORITY.fullmatch(authority)
    if ipv6:
        host, port_text = ipv6.group(1), ipv6.group(2)
    elif ":" in authority:
        host, _, port_text = authority.rpartition(":")
    else:
        host, port_text = authority, None
    if port_text and (not _PORT.fullmatch(port_text) or int(port_text) > _MAX_PORT):
        return None
    return host


def _normalize_url(url: str) -> str:
    """``host[:port][/path]`` of an http(s) URL, by the WHATWG rules."""
    try:
        parsed = URL(url)
    except (ValueError, UnicodeError) as exc:
        raise InvalidInstanceIdentifier("Not a valid URL or host name (WHATWG URL rules).") from exc
    host = str(parsed.hostname)
    if parsed.host_type == HostType.DEFAULT:
        host = host.rstrip(".")
        problem = ascii_hostname_problem(host)
        if problem:
            raise InvalidInstanceIdentifier(problem)
    return _assemble(host, str(parsed.port), str(parsed.pathname))


def clean_instance_identifier(raw: str) -> str:
    """The normalized identifier, or ValueError with the problem in words for a client."""
    normalized = normalize_instance_identifier(raw)
    problem = instance_identifier_problem(normalized)
    if problem:
        raise ValueError(problem)
    return normalized


def instance_identifier_problem(value: str) -> str | None:
    """Why a normalized identifier cannot be stored, or None if it can."""
    if not value:
        return "Must not be empty."
    if len(value) > MAX_INSTANCE_IDENTIFIER_LENGTH:
        return f"Must be at most {MAX_INSTANCE_IDENTIFIER_LENGTH} characters once normalized."
    if _SURROGATE.search(value):
        return "Unpaired surrogates are not allowed."
    if _CONTROL.search(value):
        return "Control characters are not allowed."
    return None

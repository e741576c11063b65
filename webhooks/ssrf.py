"""Where webhooks may go (SPEC §13, SSRF): the URL's rules, and the addresses it may reach.

A URL is checked when an endpoint is created or changed, and again at every delivery: the
host is resolved once (``resolve``), every address it resolves to must be public (or inside
``WEBHOOK_ALLOWED_NETWORKS``), and the delivery connects to the checked address itself
(webhooks/delivery.py), so a name that resolves elsewhere a second time (DNS rebinding) is
never looked up again between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from webhooks.models import MAX_URL_LENGTH

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services, named even where the classes below already cover them.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


SPACE, DELETE = 0x20, 0x7F


class UrlRefused(ValueError):
    """The URL may not receive webhooks; the message says why (shown to the brand)."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # the hostname as written (lower case, IDNA-encoded), or an IP literal
    port: int
    path: str  # path and query, as the request line carries them
    address: IPAddress  # the checked address to connect to

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        return host if self.port == default else f"{host}:{self.port}"

    def url_to_address(self) -> str:
        """The URL with the checked address in place of the host."""
        literal = str(self.address)
        if isinstance(self.address, ipaddress.IPv6Address):
            literal = f"[{literal}]"
        return f"{self.scheme}://{literal}:{self.port}{self.path}"


def allowed_networks() -> list[IPNetwork]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.WEBHOOK_ALLOWED_NETWORKS]


def address_problem(  # noqa: PLR0911 (one answer per rule)
    address: IPAddress,
) -> str | None:
    """Why a webhook may not be sent to ``address``, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address_problem(address.ipv4_mapped)
    if any(address in network for network in allowed_networks()):
        return None
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    )
    for attribute, problem in checks:
        if getattr(address, attribute):
            return problem
    if isinstance(address, ipaddress.IPv6Address) and address in ipaddress.ip_network("fc00::/7"):
        return "a unique-local address"
    if not address.is_global:
        return "a non-public address"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal: itself). Tests replace this."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UrlRefused(f"The host {host!r} does not resolve.") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UrlRefused(f"The host {host!r} does not resolve.")
    return addresses


def url_parts(  # noqa: C901 (one check per rule, in order)
    url: str,
) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an acceptable URL; UrlRefused otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"At most {MAX_URL_LENGTH} characters.")
    if any(ord(c) <= SPACE or ord(c) == DELETE for c in url):
        raise UrlRefused("A URL has no spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
        hostname = parts.hostname
    except ValueError as exc:
        raise UrlRefused("Not a valid URL.") from exc
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if scheme not in allowed:
        raise UrlRefused("Must be an https URL." if scheme != "https" else "Not a valid URL.")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("A webhook URL carries no credentials.")
    if not hostname:
        raise UrlRefused("A URL needs a host.")
    if parts.fragment:
        raise UrlRefused("A webhook URL has no fragment.")
    try:
        host = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise UrlRefused("The host is not a valid name.") from exc
    if port == 0:
        raise UrlRefused("Not a valid port.")
    port = port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, host, port, path


def url_target(url: str) -> Target:
    """Check ``url`` and resolve its host once: the address to connect to. Raises
    UrlRefused when the URL breaks a rule or any address it resolves to is refused."""
    scheme, host, port, path = url_parts(url)
    addresses = resolve(host, port)
    for address in addresses:
        problem = address_problem(address)
        if problem:
            raise UrlRefused(f"The host {host!r} resolves to {problem} ({address}).")
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])

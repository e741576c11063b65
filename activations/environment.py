"""Which environment an instance is in (SPEC §10): ``production``, ``staging`` or ``local``,
decided from its normalized identifier (``activations.normalize``) alone.

- **local**: loopback, private, link-local and other non-public addresses (IPv4 and IPv6);
  ``localhost``; the reserved names of RFC 2606 and RFC 6761 (``.localhost``, ``.local``,
  ``.test``, ``.example``, ``.invalid``) and the names local development tools resolve to
  the developer's own machine (``.lndo.site``, ``.ddev.site``, ngrok tunnels).
- **staging**: a sub-domain whose first label is ``staging``, ``stage``, ``dev`` or ``test``
  (``staging2.`` as SiteGround numbers them); the staging and temporary hosts of the big
  WordPress hosts (``STAGING_HOSTS``); a host matching one of the brand's own patterns.
- **production**: everything else, including every machine identifier (not a host) and
  every public address. ``.dev`` is a public top-level domain, so ``example.dev`` is a
  production site; so is ``dev.to``: a first-label rule only applies to a sub-domain.

The client's own claim (``environment`` in the activate body) is recorded beside this, never
used here: a client cannot make a production host free by saying it is staging.

A brand's patterns are host globs: lower-case labels of letters, digits, ``-`` and ``*``
(any run of characters, dots included), at least two labels, the last without ``*``:
``*.staging.example.com``, ``dev-*.example.org``. ``brands.patterns.host_pattern_problem``
says why a pattern is refused (it lives with the brand, whose staff API and admin validate
them, and which may not import this app).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

from activations.models import Environment
from activations.normalize import is_host_identifier

# Reserved top-level names (RFC 2606, RFC 6761, RFC 6762 for .local).
LOCAL_TLDS = frozenset({"localhost", "local", "test", "example", "invalid"})
# Names that local development tools resolve to 127.0.0.1, and tunnels to a developer's
# machine.
LOCAL_SUFFIXES = (
    ".lndo.site",  # Lando
    ".ddev.site",  # DDEV
    ".ngrok.io",
    ".ngrok-free.app",
    ".ngrok.app",
)
# First labels that name a staging copy, on a sub-domain only.
STAGING_FIRST_LABEL = re.compile(r"(?:staging[0-9]*|stage|dev|test)")
# The staging and temporary domains of WordPress hosts, each as documented by the host:
# (suffix, first-label prefixes that are production there; empty: none is).
STAGING_HOSTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (".wpengine.com", ()),  # WP Engine environment domains (the live site has its own)
    (".wpenginepowered.com", ()),
    (".kinsta.cloud", ()),  # Kinsta temporary and staging domains
    (".kinsta.com", ()),
    (".pantheonsite.io", ("live-",)),  # Pantheon dev-, test- and multidev environments
    (".flywheelsites.com", ()),  # Flywheel
    (".flywheelstaging.com", ()),
    (".cloudwaysapps.com", ()),  # Cloudways application URLs
    (".instawp.xyz", ()),  # InstaWP sandboxes
    (".instawp.co", ()),
    (".instawp.link", ()),
    (".myftpupload.com", ()),  # GoDaddy temporary domains
    (".wpcomstaging.com", ()),  # WordPress.com staging sites
    (".mystagingwebsite.com", ()),  # Pressable staging
    (".tastewp.com", ()),  # TasteWP sandboxes
    (".wpsandbox.pro", ()),
    (".dev.cc", ()),  # ServerPress DesktopServer
)

# A first-label rule needs a sub-domain (``staging.example.com``, not ``dev.to``).
MIN_SUBDOMAIN_LABELS = 3


def classify_environment(identifier: str, patterns: Iterable[str] = ()) -> str:
    """The environment of a normalized instance identifier; ``patterns`` are the brand's
    own host globs (staging when one matches)."""
    host = _host(identifier)
    if host is None:
        return Environment.PRODUCTION  # a machine identifier
    address = _address(host)
    if address is not None:
        return Environment.PRODUCTION if address.is_global else Environment.LOCAL
    labels = host.split(".")
    if labels[-1] in LOCAL_TLDS or host.endswith(LOCAL_SUFFIXES):
        return Environment.LOCAL
    if _is_staging_host(host, labels) or any(fnmatchcase(host, p) for p in patterns):
        return Environment.STAGING
    return Environment.PRODUCTION


def _is_staging_host(host: str, labels: list[str]) -> bool:
    if len(labels) >= MIN_SUBDOMAIN_LABELS and STAGING_FIRST_LABEL.fullmatch(labels[0]):
        return True
    return any(
        host.endswith(suffix) and not (prefixes and labels[0].startswith(prefixes))
        for suffix, prefixes in STAGING_HOSTS
    )


def _host(identifier: str) -> str | None:
    """The host of a normalized identifier that names one (``host[:port][/path]``)."""
    if not is_host_identifier(identifier):
        return None
    authority = identifier.split("/", 1)[0]
    if authority.startswith("["):
        return authority[1 : authority.index("]")]
    return authority.rpartition(":")[0] if ":" in authority else authority


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None

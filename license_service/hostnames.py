"""Host names in their one ASCII form, shared by instance identifiers (SPEC §6) and
customer e-mail domains (SPEC §2), so ``exämple.com``, ``EXÄMPLE.com``, ``ｅｘäｍｐｌｅ.com``
and ``xn--exmple-cua.com`` are one name.

The conversion is the WHATWG URL standard's "domain to ASCII" (UTS #46 ToASCII, whose
mapping table is NFKC case folding plus the IDNA exceptions, non-transitional, hyphens and
STD3 rules not enforced), as a browser applies it to the host of the URL it shows, through
ada (the WHATWG parser Node.js uses). Stricter IDNA2008 (the ``idna`` package) would refuse
names that browsers and DNS serve, such as ``_dmarc``-style underscores or ``r3---sn``
labels, and would then disagree with the URL parser about which host a URL names.

On top of that, the host must fit DNS: no empty label, labels of at most 63 octets, at most
253 in all, and every ``xn--`` label a valid punycode encoding of what it claims to be.
"""

from __future__ import annotations

import re

from ada_url import idna_to_ascii

MAX_LABEL_LENGTH = 63
MAX_HOSTNAME_LENGTH = 253

# WHATWG "forbidden domain code points": never part of a host name.
_FORBIDDEN = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")


class InvalidHostname(ValueError):
    """The text is not a host name; the message says why, in words for a client."""


def domain_to_ascii(domain: str) -> str:
    """The ASCII (punycode), lower-case form of ``domain`` with trailing dots dropped.
    Raises InvalidHostname."""
    if domain.isascii() and "xn--" not in domain.lower():
        # The standard's own fast path: for such a name, UTS #46 is lower-casing.
        ascii_domain = domain.lower()
    else:
        try:
            ascii_domain = idna_to_ascii(domain).decode("ascii")
        except (UnicodeError, ValueError) as exc:
            raise InvalidHostname("The host name is not valid text.") from exc
        if not ascii_domain:
            raise InvalidHostname(
                "The host name is not a valid internationalized domain name (UTS #46)."
            )
    if _FORBIDDEN.search(ascii_domain):
        raise InvalidHostname("The host name contains a character that no host name has.")
    ascii_domain = ascii_domain.rstrip(".")
    problem = ascii_hostname_problem(ascii_domain)
    if problem:
        raise InvalidHostname(problem)
    return ascii_domain


def ascii_hostname_problem(host: str) -> str | None:
    """Why an ASCII host name (trailing dots already dropped) does not fit DNS, or None."""
    if not host:
        return "The host name is empty."
    if len(host) > MAX_HOSTNAME_LENGTH:
        return f"The host name is longer than {MAX_HOSTNAME_LENGTH} characters."
    for label in host.split("."):
        if not label:
            return "The host name has an empty label."
        if len(label) > MAX_LABEL_LENGTH:
            return f"A label of the host name is longer than {MAX_LABEL_LENGTH} characters."
        if label.startswith("xn--") and not _is_valid_ace_label(label):
            return "An xn-- label of the host name is not valid punycode."
    return None


def _is_valid_ace_label(label: str) -> bool:
    """Whether ``xn--…`` decodes to a name whose ASCII form is this very label."""
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError, IndexError, OverflowError):
        return False
    if not decoded or decoded.isascii():
        return False
    try:
        return bool(idna_to_ascii(decoded).decode("ascii") == label)
    except (UnicodeError, ValueError):
        return False

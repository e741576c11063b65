"""License key format: generation and checksum validation (pure functions).

Layout: ``<PREFIX>-XXXXX-XXXXX-XXXXX-XXXXX-XXXCC-CCCCC``

- ``PREFIX``: the brand's 2–6 upper-case letters (e.g. ``RNKM``).
- 23 random Crockford base32 symbols (0-9, A-Z without I, L, O, U): 115 bits from
  ``secrets``.
- 7 checksum symbols: the CRC-32 of ``PREFIX`` + the random symbols, as 35 bits of base32.
- Grouped in fives by dashes.

CRC-32 detects every error burst of up to 32 bits, so every single mistyped symbol and
every swap of two neighbours is caught; a made-up key passes with probability 2^-32. That
lets the product API refuse such keys before any cache or database lookup.

Input is canonicalized before validation: surrounding whitespace trimmed, upper-cased,
Crockford's look-alikes mapped (O→0, I/L→1), and dashes placed where they belong, so a
key read out over the phone or retyped without dashes still works.
"""

from __future__ import annotations

import re
import secrets
import zlib
from functools import lru_cache

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_SYMBOLS = 23
CHECKSUM_SYMBOLS = 7
GROUP = 5
_BODY_SYMBOLS = RANDOM_SYMBOLS + CHECKSUM_SYMBOLS
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_KEY_RE = re.compile(rf"^([A-Z]{{2,6}})-?((?:[0-9A-Z]-?){{{_BODY_SYMBOLS}}})$")
_BODY_RE = re.compile(rf"^[{ALPHABET}]{{{_BODY_SYMBOLS}}}$")
MAX_KEY_INPUT_LENGTH = 64


def _checksum(prefix: str, random_part: str) -> str:
    value = zlib.crc32(f"{prefix}{random_part}".encode("ascii"))
    symbols = []
    for _ in range(CHECKSUM_SYMBOLS):
        symbols.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(symbols))


def _format(prefix: str, body: str) -> str:
    groups = [body[i : i + GROUP] for i in range(0, len(body), GROUP)]
    return "-".join([prefix, *groups])


def generate_license_key(prefix: str) -> str:
    """A fresh key for the brand with this key prefix."""
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_SYMBOLS))
    return _format(prefix, random_part + _checksum(prefix, random_part))


def canonical_license_key(raw: object) -> str | None:
    """The canonical form of a key as a customer typed it, or None if it cannot be a key
    (wrong shape or failed checksum). No I/O."""
    if not isinstance(raw, str) or len(raw) > MAX_KEY_INPUT_LENGTH:
        return None
    return _canonical(raw)


def canonical_license_key_uncached(raw: str) -> str | None:
    """``canonical_license_key`` without its cache, for scanning arbitrary text (log
    masking): what is merely looked at must not evict the check path's hot keys."""
    if len(raw) > MAX_KEY_INPUT_LENGTH:
        return None
    return _canonicalize(raw)


def _canonicalize(raw: str) -> str | None:
    candidate = raw.strip().upper()
    match = _KEY_RE.match(candidate)
    if match is None:
        return None
    prefix = match.group(1)
    body = match.group(2).replace("-", "").translate(_LOOKALIKES)
    if not _BODY_RE.match(body):
        return None
    random_part, checksum = body[:RANDOM_SYMBOLS], body[RANDOM_SYMBOLS:]
    if not secrets.compare_digest(_checksum(prefix, random_part), checksum):
        return None
    return _format(prefix, body)


# The hot keys of the check path, checksummed once.
_canonical = lru_cache(maxsize=4096)(_canonicalize)


def key_display_prefix(key: str) -> str:
    """What logs may show of a key: the brand prefix and the first group."""
    brand_prefix, _, rest = key.partition("-")
    first_group, second_dash, _ = rest.partition("-")
    return f"{brand_prefix}-{first_group}" if second_dash else key[:6]


def key_masked(key: str) -> str:
    """Another brand's key as US6 shows it: the brand prefix and the last group only
    (``RNKM-…-E8RJP``). The last group is checksum, so nothing of the random part shows."""
    prefix, _, rest = key.partition("-")
    last = rest.rsplit("-", 1)[-1]
    return f"{prefix}-…-{last}" if rest else prefix

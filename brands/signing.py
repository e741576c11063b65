"""The cryptography of the brands' token-signing keys (SPEC §12): making an Ed25519 key pair,
encrypting its private half at rest, reading it back, and the public half as a JWK.

Encryption at rest: AES-256-GCM (``cryptography``'s AEAD, a random 96-bit nonce per key)
under a key derived with HKDF-SHA256 from ``settings.SIGNING_KEYS_SECRET`` (never
``SECRET_KEY``). The associated data binds a ciphertext to its row (brand id and kid): a
ciphertext copied onto another brand's row does not decrypt. A wrong secret, or a damaged
ciphertext, raises ``SigningKeyUnreadable``: loudly, never a silently different key.

Stored form: ``v1.`` + base64url(nonce || ciphertext-with-tag).
"""

from __future__ import annotations

import base64
import functools
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_VERSION = "v1."
_NONCE_BYTES = 12
_HKDF_INFO = b"license-service brand signing keys v1"


def current_kid_cache_key(brand_slug: str) -> str:
    """Where the brand's current kid is kept in the cache (written when a key is made)."""
    return f"signing:kid:v1:{brand_slug}"


class SigningKeyUnreadable(Exception):
    """A stored private key does not decrypt: the secret changed, or the row is damaged."""


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.lru_cache(maxsize=4)
def _aead(secret: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret.encode("utf-8")
    )
    return AESGCM(key)


def _cipher() -> AESGCM:
    # Per secret, so a test that changes the setting gets a cipher of the new secret.
    return _aead(settings.SIGNING_KEYS_SECRET)


def _associated_data(brand_id: int, kid: str) -> bytes:
    return f"brand={brand_id};kid={kid}".encode()


def encrypt_private_key(raw: bytes, *, brand_id: int, kid: str) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = _cipher().encrypt(nonce, raw, _associated_data(brand_id, kid))
    return _VERSION + b64url(nonce + sealed)


def decrypt_private_key(stored: str, *, brand_id: int, kid: str) -> bytes:
    """The raw 32-byte private key. Raises SigningKeyUnreadable."""
    if not stored.startswith(_VERSION):
        raise SigningKeyUnreadable(f"signing key {kid}: unknown storage format")
    try:
        blob = _unb64url(stored.removeprefix(_VERSION))
        nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        raw = _cipher().decrypt(nonce, sealed, _associated_data(brand_id, kid))
    except (InvalidTag, ValueError) as exc:
        raise SigningKeyUnreadable(
            f"signing key {kid} does not decrypt: SIGNING_KEYS_SECRET changed, or the row "
            "is damaged"
        ) from exc
    if len(raw) != 32:  # noqa: PLR2004 (an Ed25519 private key)
        raise SigningKeyUnreadable(f"signing key {kid}: not an Ed25519 key")
    return raw


@dataclass(frozen=True, slots=True)
class NewKeyPair:
    kid: str
    public_key: str  # raw, base64url (a JWK's "x")
    private_raw: bytes


def new_key_pair() -> NewKeyPair:
    private = Ed25519PrivateKey.generate()
    private_raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public_raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    # Random, not derived from the key: a kid says nothing about it.
    return NewKeyPair(
        kid=b64url(secrets.token_bytes(12)), public_key=b64url(public_raw), private_raw=private_raw
    )


@functools.lru_cache(maxsize=256)
def private_key_object(raw: bytes) -> Ed25519PrivateKey:
    """The key object PyJWT signs with, kept per raw key (a kid's key never changes)."""
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_jwk(*, kid: str, public_key: str) -> dict[str, str]:
    """RFC 8037's JWK of an Ed25519 public key, with its kid and intended use."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": public_key,
        "kid": kid,
        "alg": "EdDSA",
        "use": "sig",
    }

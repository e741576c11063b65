"""What one license token costs to sign (SPEC §12), in microseconds, in this process.

    .venv/bin/python -m scripts.measure_token_signing [--tokens 5000]

Three figures, each the median of several rounds: PyJWT's EdDSA signature of the claims
alone; that plus reading the brand's private key back from its stored form (AES-GCM
decryption, as ``activations.tokens.license_token_sign`` does on every signature); and a
verification with PyJWT (what a client pays offline). The database reads around a
signature (the license's brand and product, the brand's current key) are not in these
figures: they are the cost of a check miss, measured by the bench. A check hit that
reuses a cached token signs nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "license_service.settings.test")

import django

django.setup()

import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: E402

from brands.signing import (  # noqa: E402
    _unb64url,
    decrypt_private_key,
    encrypt_private_key,
    new_key_pair,
    private_key_object,
)

CLAIMS = {
    "iss": "https://licenses.example.com",
    "sub": "123456",
    "brand": "rankmath",
    "product": "rankmath-pro",
    "key_prefix": "RNKM-ABCDE",
    "instance": "example.com",
    "status": "valid",
    "expires_at": "2027-12-31T00:00:00Z",
    "max_seats": 3,
}
HEADERS = {"kid": "measure", "typ": "license+jwt"}
ROUNDS = 5


def per_call_us(function: Callable[[], object], count: int) -> float:
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(count):
            function()
        rounds.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=5000)
    count = parser.parse_args().tokens
    pair = new_key_pair()
    stored = encrypt_private_key(pair.private_raw, brand_id=1, kid=pair.kid)
    now = int(time.time())
    claims = {**CLAIMS, "iat": now, "nbf": now, "exp": now + 7 * 24 * 3600}
    private = private_key_object(pair.private_raw)

    def sign() -> str:
        return jwt.encode(claims, private, algorithm="EdDSA", headers=HEADERS)

    def decrypt_and_sign() -> str:
        raw = decrypt_private_key(stored, brand_id=1, kid=pair.kid)
        return jwt.encode(claims, private_key_object(raw), algorithm="EdDSA", headers=HEADERS)

    token = sign()
    public = Ed25519PublicKey.from_public_bytes(_unb64url(pair.public_key))

    def verify() -> dict[str, Any]:
        return jwt.decode(token, public, algorithms=["EdDSA"], issuer=str(CLAIMS["iss"]))

    print(f"{count} tokens x {ROUNDS} rounds, median per token:")
    print(f"  sign (PyJWT, Ed25519)             {per_call_us(sign, count):8.1f} µs")
    print(f"  decrypt key (AES-GCM) + sign      {per_call_us(decrypt_and_sign, count):8.1f} µs")
    print(f"  verify (PyJWT, as a client does)  {per_call_us(verify, count):8.1f} µs")
    print(f"  token length                      {len(token):8d} bytes")


if __name__ == "__main__":
    main()

"""License key format: generation and the checksum that rejects mistyped keys."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from licensing.keys import (
    ALPHABET,
    canonical_license_key,
    generate_license_key,
    key_display_prefix,
)

KEY_SHAPE = re.compile(r"^RNKM(-[0-9A-HJKMNP-TV-Z]{5}){6}$")


def test_generated_key_has_the_documented_layout():
    key = generate_license_key("RNKM")
    assert KEY_SHAPE.match(key), key


def test_generated_keys_carry_at_least_100_random_bits():
    # 23 random symbols of a 32-letter alphabet.
    assert 23 * 5 >= 100
    keys = {generate_license_key("RNKM") for _ in range(2000)}
    assert len(keys) == 2000


def test_generated_key_passes_its_own_checksum():
    key = generate_license_key("WPRK")
    assert canonical_license_key(key) == key


def test_input_is_case_insensitive_and_trimmed():
    key = generate_license_key("RNKM")
    assert canonical_license_key(f"  {key.lower()}\n") == key


def test_dashes_may_be_left_out():
    key = generate_license_key("RNKM")
    assert canonical_license_key(key.replace("-", "")) == key


def test_crockford_lookalikes_are_read_as_digits():
    key = generate_license_key("RNKM")
    body = key[5:]
    typed = "RNKM-" + body.replace("0", "O").replace("1", "I")
    assert canonical_license_key(typed) == key


def test_every_single_mistyped_symbol_is_rejected():
    key = generate_license_key("RNKM")
    for index, symbol in enumerate(key):
        if symbol == "-" or index < 4:
            continue
        for replacement in ALPHABET:
            if replacement == symbol:
                continue
            typo = key[:index] + replacement + key[index + 1 :]
            assert canonical_license_key(typo) is None, typo


def test_every_swap_of_neighbours_is_rejected():
    key = generate_license_key("RNKM").replace("-", "")
    for index in range(4, len(key) - 1):
        if key[index] == key[index + 1]:
            continue
        swapped = key[:index] + key[index + 1] + key[index] + key[index + 2 :]
        assert canonical_license_key(swapped) is None


def test_another_brands_prefix_fails_the_checksum():
    key = generate_license_key("RNKM")
    assert canonical_license_key("WPRK" + key[4:]) is None


def test_made_up_and_malformed_keys_are_rejected():
    for raw in ["", "RNKM", "RNKM-AAAAA", "hello world", "RNKM-" + "A" * 30, None, 42, "x" * 500]:
        assert canonical_license_key(raw) is None


@given(st.text(max_size=80))
def test_random_text_is_never_accepted_by_accident(text):
    assert canonical_license_key(text) is None


def test_display_prefix_hides_the_secret_part():
    key = generate_license_key("RNKM")
    shown = key_display_prefix(key)
    assert shown == key[:10]
    assert len(shown) < len(key) // 3

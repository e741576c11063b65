"""releases.versions: PHP's version_compare, against php-src's own table and real versions."""

from __future__ import annotations

import itertools
import json
import random
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from license_service.errors import ValidationFailed
from releases.versions import canonicalize, version_compare, version_sort_key, version_validate

# php-src ext/standard/tests/versioning/version_compare.phpt, "TESTING COMPARE": the
# special forms appended to "1.0", in this order, each compared with each; its expected
# output is exactly the order of this list (and RC1 = rc1).
PHP_SPECIAL_FORMS = ["-dev", "a1", "b1", "RC1", "rc1", "", "pl1"]
PHP_RANK = {"-dev": 0, "a1": 1, "b1": 2, "RC1": 3, "rc1": 3, "": 4, "pl1": 5}


@pytest.mark.parametrize(
    ("form1", "form2"), list(itertools.product(PHP_SPECIAL_FORMS, PHP_SPECIAL_FORMS))
)
def test_php_src_special_form_table(form1, form2):
    expected = (PHP_RANK[form1] > PHP_RANK[form2]) - (PHP_RANK[form1] < PHP_RANK[form2])
    assert version_compare(f"1.0{form1}", f"1.0{form2}") == expected


@pytest.mark.parametrize(
    ("version1", "version2", "expected"),
    [
        # php-src's first lines
        ("1", "2", -1),
        ("10", "2", 1),
        ("1.0", "1.1", -1),
        ("1.2", "1.0.1", 1),
        # real plugin versions
        ("1.10.0", "1.9.9", 1),
        ("2.0.0-beta.1", "2.0.0", -1),
        ("2.0.0-beta.1", "2.0.0-beta.2", -1),
        ("2.0.0-beta.2", "2.0.0-RC1", -1),
        ("2.0.0-rc.1", "2.0.0-RC.1", 0),
        ("2.0.0-alpha", "2.0.0-a", 0),
        ("2.0.0-alpha", "2.0.0-beta", -1),
        ("2.0.0-dev", "2.0.0-alpha", -1),
        ("2.0.0", "2.0.0-pl1", -1),
        ("2.0.0", "2.0.0-p1", -1),
        ("2.0.0-patch", "2.0.0-pl", 0),  # "patch" starts with "p"
        ("1.0.0+build.5", "1.0.0.build.5", 0),
        ("1.0_1", "1.0.1", 0),
        ("1.0a", "1.0.a", 0),
        ("3.9.10", "3.10", -1),
        ("6.4.3", "6.4.3", 0),
        ("1.01", "1.1", 0),  # numeric parts compare as numbers
        # PHP's answer, not the intuition: a missing part is below any number
        ("1.0", "1.0.0", -1),
        ("1.0.0", "1.0", 1),
        ("1", "1.0", -1),
        # ...even a pre-release of a longer version; but above a pre-release form itself
        ("1.0", "1.0.0-beta", -1),
        ("1.0", "1.0-dev", 1),
        # any other word is below dev
        ("1.0-foo", "1.0-dev", -1),
        ("1.0-x", "1.0", -1),
        # "#" ranks with numbers when it starts the string (left uncanonicalized then);
        # anywhere else it is a separator like any other non-alphanumeric character
        ("#", "5", 0),
        ("1.0.#", "1.0.5", -1),
        # empty strings
        ("", "", 0),
        ("", "1", -1),
        ("1", "", 1),
        # strtol saturates at LONG_MAX on a 64-bit PHP
        ("99999999999999999999", "99999999999999999998", 0),
    ],
)
def test_version_compare_table(version1, version2, expected):
    assert version_compare(version1, version2) == expected
    assert version_compare(version2, version1) == -expected


def test_a_trailing_separator_makes_php_answer_minus_one_even_for_equal_strings():
    """PHP 8.2 (verified with php8.2-cli 8.2.36) answers -1 for version_compare('1.2(message)',
    '1.2(message)'); php-src's newer test table expects 0 there, so a later PHP changed it.
    Valid versions never end with a separator, so both agree on every stored version."""
    assert version_compare("1.2(message)", "1.2(message)") == -1
    assert version_compare("1.", "1.dev") == version_compare("1.dev", "1.") == -1


def _random_version(rng: random.Random) -> str:
    if rng.random() < 0.5:
        alphabet = "0123456789abdeprlhcRCx.-_+#( "
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
    words = ["dev", "alpha", "a", "beta", "b", "RC", "rc", "pl", "p", "patch", "x", "#", ""]
    parts = [
        rng.choice([str(rng.randint(0, 12)), rng.choice(words)]) for _ in range(rng.randint(1, 5))
    ]
    return "".join(part + rng.choice([".", "-", "_", "+", ""]) for part in parts)


@pytest.mark.skipif(shutil.which("php") is None, reason="needs php-cli")
def test_agrees_with_php_itself_on_random_strings():
    """A differential test against the real ``version_compare`` of the php on this machine
    (any strings, not only valid versions)."""
    rng = random.Random(15)  # noqa: S311 (test data, not a secret)
    pairs = [[_random_version(rng), _random_version(rng)] for _ in range(5000)]
    script = (
        "$o=[];foreach(json_decode(stream_get_contents(STDIN)) as $p)"
        "$o[]=version_compare($p[0],$p[1]);echo json_encode($o);"
    )
    php = subprocess.run(
        [shutil.which("php") or "php", "-r", script],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        check=True,
    )
    expected = json.loads(php.stdout)
    differ = [
        (a, b, answer)
        for (a, b), answer in zip(pairs, expected, strict=True)
        if version_compare(a, b) != answer
    ]
    assert differ == []


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("1.0-dev", "1.0.dev"),
        ("1.0rc1", "1.0.rc.1"),
        ("1.0__RC1", "1.0.RC.1"),
        ("2.0.0-beta.1", "2.0.0.beta.1"),
        # a non-alphanumeric right after a digit is kept (PHP's transition rule)
        ("1.2(message)", "1.2.(message."),
        ("-1", "-.1"),  # the first character is kept as it is
    ],
)
def test_canonicalize_as_php(raw, canonical):
    assert canonicalize(raw) == canonical


def test_sorting_newest_first():
    versions = ["1.9.9", "2.0.0", "1.10.0", "2.0.0-beta.1", "2.0.0-RC1", "1.10.0-dev", "1.0"]
    assert sorted(versions, key=version_sort_key, reverse=True) == [
        "2.0.0",
        "2.0.0-RC1",
        "2.0.0-beta.1",
        "1.10.0",
        "1.10.0-dev",
        "1.9.9",
        "1.0",
    ]


_ALNUM = "0123456789abdeprlhcRCx"
_MIDDLE = _ALNUM + ".-_+"
versions = st.builds(
    lambda first, middle, last: first + middle + last,
    st.sampled_from(_ALNUM),
    st.text(alphabet=_MIDDLE, max_size=10),
    st.sampled_from(_ALNUM),
) | st.sampled_from(["1.0", "1.0.0", "1.0-dev", "1.0a1", "1.0RC1", "1.0pl1", "2", "1.0.0.0"])


@settings(max_examples=400, deadline=None)
@given(a=versions, b=versions, c=versions)
def test_version_compare_is_a_total_preorder(a, b, c):
    """On valid versions: reflexive, antisymmetric in sign, and transitive."""
    assert version_compare(a, a) == 0
    assert version_compare(a, b) == -version_compare(b, a)
    if version_compare(a, b) <= 0 and version_compare(b, c) <= 0:
        assert version_compare(a, c) <= 0
    if version_compare(a, b) == 0:
        assert version_compare(a, c) == version_compare(b, c)


@pytest.mark.parametrize(
    "bad",
    ["", " ", "1.0 ", " 1.0", "1.0\x00", "1" * 65, "1.0/../x", "1.0-", ".1", "1,0", "1.0é", 5],
)
def test_a_string_that_is_no_version_is_refused_naming_the_field(bad):
    with pytest.raises(ValidationFailed) as caught:
        version_validate(bad)
    assert list(caught.value.details) == ["version"]
    assert caught.value.details["version"][0]


@pytest.mark.parametrize("good", ["1", "1.0.0", "2.0.0-beta.1", "1.0.0+build_7", "v2", "1" * 64])
def test_valid_versions_pass(good):
    assert version_validate(good) == good

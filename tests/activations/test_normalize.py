"""Instance-identifier normalization (SPEC §6): a pure function, table- and property-tested,
and what it means for seats through the product API."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activations.models import Activation
from activations.normalize import (
    InvalidInstanceIdentifier,
    _fast_normalize,
    _normalize_url,
    clean_instance_identifier,
    instance_identifier_problem,
    normalize_instance_identifier,
)
from activations.services import activation_create
from audit.services import Actor
from license_service.errors import ValidationFailed
from license_service.hostnames import InvalidHostname, domain_to_ascii
from tests.activations.conftest import activate, deactivate


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # http and https alike, scheme dropped
        ("https://example.com", "example.com"),
        ("http://example.com", "example.com"),
        ("HTTPS://Example.COM", "example.com"),
        # leading www. dropped
        ("https://www.example.com", "example.com"),
        ("www.example.com", "example.com"),
        ("WWW.Example.com", "example.com"),
        ("www.www.example.com", "example.com"),
        ("https://www.com", "www.com"),
        ("wwwexample.com", "wwwexample.com"),
        # default ports dropped, others kept
        ("http://example.com:80", "example.com"),
        ("https://example.com:443/", "example.com"),
        ("example.com:443", "example.com"),
        ("http://example.com:8080", "example.com:8080"),
        ("example.com:08080/shop", "example.com:8080/shop"),
        # trailing slash dropped, path kept as typed
        ("https://example.com/", "example.com"),
        ("example.com/", "example.com"),
        ("https://example.com/blog/", "example.com/blog"),
        ("https://example.com/Blog//", "example.com/Blog"),
        ("example.com/blog", "example.com/blog"),
        # query and fragment dropped
        ("https://example.com/?utm_source=x", "example.com"),
        ("https://example.com/shop?page=2#top", "example.com/shop"),
        ("example.com#about", "example.com"),
        # user info dropped, trailing dot of a fully qualified name dropped
        ("https://admin:secret@example.com/", "example.com"),
        ("https://example.com./", "example.com"),
        # surrounding whitespace trimmed
        ("  https://example.com/  ", "example.com"),
        # hosts that are not dotted names
        ("http://localhost:8000/", "localhost:8000"),
        ("localhost", "localhost"),
        ("http://[::1]:8080/", "[::1]:8080"),
        ("192.168.1.10:80", "192.168.1.10"),
        ("http://intranet/wiki", "intranet/wiki"),
        ("https://Bücher.DE/", "xn--bcher-kva.de"),
        # machine ids: trimmed, otherwise kept as is
        ("  3F2504E0-4F89-11D3-9A0C-0305E82C3301 ", "3F2504E0-4F89-11D3-9A0C-0305E82C3301"),
        ("BUILD-AGENT-7", "BUILD-AGENT-7"),
        ("MacBook Pro (Jane)", "MacBook Pro (Jane)"),
        ("user@example.com", "user@example.com"),
        ("ftp://example.com/", "ftp://example.com/"),
        ("example.com:notaport", "example.com:notaport"),
        ("Jane’s.MacBook", "Jane’s.MacBook"),
        ("2024.01.15", "2024.01.15"),
        ("1.2.3", "1.2.3"),
        ("999.1.1.1", "999.1.1.1"),
        ("build.0x1f", "build.0x1f"),
        ("http://1.2.3/", "1.2.0.3"),
        ("", ""),
        # international names: one ASCII (punycode) form, whatever the spelling (UTS #46)
        ("exämple.com", "xn--exmple-cua.com"),
        ("https://EXÄMPLE.com/", "xn--exmple-cua.com"),
        ("xn--exmple-cua.com", "xn--exmple-cua.com"),
        ("https://XN--EXMPLE-CUA.COM", "xn--exmple-cua.com"),
        ("www.exämple.com.", "xn--exmple-cua.com"),
        ("straße.de", "xn--strae-oqa.de"),
        ("http://💩.la/", "xn--ls8h.la"),
        ("Jürgen.Laptop", "xn--jrgen-kva.laptop"),
        # fullwidth and other compatibility forms (NFKC), ideographic full stops
        ("ｅｘａｍｐｌｅ.com", "example.com"),
        ("https://ＥＸＡＭＰＬＥ．ＣＯＭ/", "example.com"),
        ("ｅｘａｍｐｌｅ。com", "example.com"),
        ("https://ⓔxample.com", "example.com"),
        ("ﬁle.example.com", "file.example.com"),
        # WHATWG URL rules: a backslash is a slash, user info ends at the last @
        ("http://example.com\\@evil.com", "example.com/@evil.com"),
        ("http://example.com\\blog\\", "example.com/blog"),
        ("example.com\\blog", "example.com/blog"),
        ("http:\\\\example.com", "example.com"),
        ("http:example.com", "example.com"),
        ("https:///example.com/", "example.com"),
        ("http://user@evil.com@example.com/", "example.com"),
        # ... tabs and newlines inside dropped, percent-encoded and numeric hosts decoded
        ("http://exa\tmple.com/bl\nog", "example.com/blog"),
        ("ht\ttp://example.com", "example.com"),
        ("http://ex%61mple.com", "example.com"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://[0:0::1]:443/", "[::1]"),
        # ... dot segments resolved, spaces percent-encoded
        ("https://example.com/a/./b/../c/", "example.com/a/c"),
        ("https://example.com/%2e%2e/blog", "example.com/blog"),
        ("https://example.com/my blog", "example.com/my%20blog"),
    ],
)
def test_instance_identifier_is_normalized(raw, expected):
    assert normalize_instance_identifier(raw) == expected


def test_http_and_https_forms_of_one_site_are_one_instance():
    forms = [
        "https://www.example.com/",
        "http://example.com",
        "example.com",
        "EXAMPLE.COM:443",
        "https://example.com/?ref=1#x",
    ]
    assert {normalize_instance_identifier(form) for form in forms} == {"example.com"}


def test_international_spellings_of_one_site_are_one_instance():
    forms = [
        "exämple.com",
        "EXÄMPLE.COM",
        "https://www.exämple.com/",
        "xn--exmple-cua.com",
        "http://XN--EXMPLE-CUA.com.:80",
        "ｅｘäｍｐｌｅ．ｃｏｍ",
        "https://exa\u0308mple.com",  # a + combining diaeresis
    ]
    assert {normalize_instance_identifier(form) for form in forms} == {"xn--exmple-cua.com"}


def test_backslash_user_info_trick_does_not_name_the_other_host():
    assert normalize_instance_identifier("http://example.com\\@evil.com") == (
        "example.com/@evil.com"
    )


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("http://", "Not a valid URL or host name (WHATWG URL rules)."),
        ("https://exa mple.com", "Not a valid URL or host name (WHATWG URL rules)."),
        ("http://example.com:99999", "Not a valid URL or host name (WHATWG URL rules)."),
        ("http://2024.01.15/", "Not a valid URL or host name (WHATWG URL rules)."),
        ("https://ex\u200dample.com", "Not a valid URL or host name (WHATWG URL rules)."),
        ("\u0301example.com", "Not a valid URL or host name (WHATWG URL rules)."),
        ("http://evil.com%40example.com/", "Not a valid URL or host name (WHATWG URL rules)."),
        ("https://a..example.com", "The host name has an empty label."),
        ("https://.example.com", "The host name has an empty label."),
        (f"https://{'a' * 64}.com", "A label of the host name is longer than 63 characters."),
        (
            "https://" + ".".join(["a" * 60] * 5),
            "The host name is longer than 253 characters.",
        ),
        ("xn--zz.com", "An xn-- label of the host name is not valid punycode."),
        ("https://xn--.com", "An xn-- label of the host name is not valid punycode."),
        ("https://xn--example.com", "An xn-- label of the host name is not valid punycode."),
    ],
)
def test_url_without_a_valid_host_is_refused(raw, problem):
    with pytest.raises(InvalidInstanceIdentifier) as caught:
        normalize_instance_identifier(raw)
    assert str(caught.value) == problem


def test_identifier_is_limited_to_255_characters_after_normalization():
    long_query = "https://exämple.com/?" + "q" * 500
    assert clean_instance_identifier(long_query) == "xn--exmple-cua.com"
    with pytest.raises(ValueError, match="at most 255 characters once normalized"):
        clean_instance_identifier("https://exämple.com/" + "ü" * 30 + "/" + "p" * 60)


def test_a_path_is_another_site():
    assert normalize_instance_identifier("example.com/blog") != normalize_instance_identifier(
        "example.com"
    )


_label = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,8}[A-Za-z0-9])?", fullmatch=True)
_url_like = st.builds(
    lambda scheme, www, labels, port, path, query, space: (
        f"{space}{scheme}{www}{'.'.join(labels)}{port}{path}{query}{space}"
    ),
    st.sampled_from(["", "http://", "https://", "HTTP://", "Https://"]),
    st.sampled_from(["", "www.", "WWW.", "www.www."]),
    st.lists(_label, min_size=1, max_size=4),
    st.sampled_from(["", ":80", ":443", ":8080", ":", ":0080", ":99999", ":x"]),
    st.sampled_from(["", "/", "//", "/blog", "/Blog/", "/a b /", "/a/./b", "/%2F"]),
    st.sampled_from(["", "?q=1", "#frag", "?q=1#f", "?"]),
    st.sampled_from(["", " ", "\t"]),
)
# Few characters, many of them special to URLs: tricky combinations come up quickly.
_url_soup = st.text(alphabet="htpsHTPS:/w.W[]@1-8 ?#aé\tK\u212a", max_size=40)


# International labels, in compatibility forms too, and URL punctuation that WHATWG reads.
_idn_label = st.text(alphabet="abcäöüßéçñøЖжк日本ｅｘＡ\u0308-_", min_size=1, max_size=10)
_idn_url = st.builds(
    lambda scheme, user, labels, dot, port, slash, path: (
        f"{scheme}{user}{'.'.join(labels)}{dot}{port}{slash}{path}"
    ),
    st.sampled_from(["", "http://", "HTTPS://", "http:\\\\", "http:", "https:///"]),
    st.sampled_from(["", "user@", "a:b@", "a\\b@"]),
    st.lists(_idn_label, min_size=1, max_size=3),
    st.sampled_from(["", ".", "。", "．"]),
    st.sampled_from(["", ":80", ":443", ":8080"]),
    st.sampled_from(["", "/", "\\"]),
    st.sampled_from(["", "blog", "a/../b", "x y", "%7e", "@evil.com"]),
)
_url_soup_unicode = st.text(alphabet="htps:/\\w.@[]1%-?#äｅ。\u0308\u200d\t ", max_size=40)
_any = st.one_of(_url_like, _url_soup, _idn_url, _url_soup_unicode, st.text(max_size=80))


def _normalized(raw: str) -> str | None:
    try:
        return normalize_instance_identifier(raw)
    except InvalidInstanceIdentifier:
        return None


@given(_any)
def test_normalizing_twice_changes_nothing(raw):
    once = _normalized(raw)
    if once is not None:
        assert normalize_instance_identifier(once) == once


@given(_any)
def test_normalized_identifier_has_no_surrounding_whitespace(raw):
    normalized = _normalized(raw)
    if normalized is not None:
        assert normalized == normalized.strip()


@given(_any)
def test_a_normalized_host_is_ascii(raw):
    normalized = _normalized(raw)
    if normalized is not None and normalized != raw.strip():
        assert normalized.isascii()


# The last label is no number: ``www.`` before a numeric host makes no name.
@given(st.one_of(st.text(max_size=80), st.text(alphabet="xn-abc09.", max_size=30)))
def test_a_domain_is_converted_or_refused_never_an_unexpected_error(domain):
    try:
        ascii_domain = domain_to_ascii(domain)
    except InvalidHostname:
        return
    assert ascii_domain.isascii()
    assert domain_to_ascii(ascii_domain) == ascii_domain


_host = st.builds(
    lambda labels, top: ".".join([*labels, top]),
    st.lists(st.text(alphabet="abcxyzäöüéñжк日本0123456789", min_size=1, max_size=8), max_size=2),
    st.text(alphabet="abcdefxyzäöüéñжк日本", min_size=1, max_size=8),
).filter(lambda host: "." in host)
_FULLWIDTH = {ord(c): ord(c) + 0xFEE0 for c in "abcdefghijklmnopqrstuvwxyz0123456789"}


@given(_host, st.sampled_from(["", "/blog"]))
def test_every_spelling_of_a_host_is_one_instance(host, path):
    canonical = _normalized(host + path)
    if canonical is None:
        return  # not a valid name (e.g. a label of digits and marks only): refused alike
    ascii_host = canonical.partition("/")[0]
    spellings = [
        f"https://{host.upper()}{path}/",
        f"http://www.{host}.:80{path}",
        f"{host.translate(_FULLWIDTH)}{path}",
        f"{ascii_host.upper()}{path}",
        f"http://user:pw@{ascii_host}{path}?q=1#f",
        f"http:\\\\{host}\\{path.lstrip('/')}",
    ]
    assert {normalize_instance_identifier(spelling) for spelling in spellings} == {canonical}


_ascii_url = st.builds(
    lambda scheme, host, port, path, tail: f"{scheme}{host}{port}{path}{tail}",
    st.sampled_from(["", "http://", "HTTPS://"]),
    st.lists(_label, min_size=2, max_size=4).map(".".join),
    st.sampled_from(["", ":80", ":443", ":08080", ":65535"]),
    st.text(alphabet="abcABC09._~!$&'()*+,;=:@/-", max_size=20).map(lambda p: "/" + p),
    st.sampled_from(["", "?q=1", "#f", "?a\\b#c"]),
)


@given(_ascii_url)
def test_fast_path_agrees_with_the_whatwg_parser(raw):
    fast = _fast_normalize(raw)
    if fast is not None:
        url = raw if raw.lower().startswith("http") else f"http://{raw}"
        assert fast == _normalize_url(url)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "Must not be empty."),
        ("a" * 256, "Must be at most 255 characters once normalized."),
        ("abc\x00", "Control characters are not allowed."),
        ("abc\x1b[31m", "Control characters are not allowed."),
        ("abc\ud800", "Unpaired surrogates are not allowed."),
    ],
)
def test_unstorable_identifier_has_a_problem(value, problem):
    assert instance_identifier_problem(value) == problem


def test_identifier_of_255_characters_is_fine():
    assert instance_identifier_problem("a" * 255) is None


# --- through the product API -------------------------------------------------------------


@pytest.mark.django_db
def test_international_spellings_of_one_site_take_one_seat(client, key):
    first = activate(client, key, "exämple.com")
    assert first.status_code == 200
    for spelling in ["xn--exmple-cua.com", "https://ＥＸÄＭＰＬＥ.com/", "http://www.exämple.com."]:
        again = activate(client, key, spelling)
        assert again.status_code == 200
        assert again.json()["activation_id"] == first.json()["activation_id"]
        assert again.json()["seats_used"] == 1
    assert Activation.objects.get().instance_identifier == "xn--exmple-cua.com"


@pytest.mark.django_db
def test_fullwidth_letters_take_no_second_seat(client, key):
    activate(client, key, "example.com")
    response = activate(client, key, "ｅｘａｍｐｌｅ.com")
    assert response.json()["seats_used"] == 1
    assert Activation.objects.get().instance_identifier == "example.com"


@pytest.mark.django_db
def test_backslash_before_an_at_sign_activates_the_typed_host_not_the_other(client, key):
    assert activate(client, key, "http://example.com\\@evil.com").status_code == 200
    assert Activation.objects.get().instance_identifier == "example.com/@evil.com"
    response = deactivate(client, key, "evil.com")
    assert response.status_code == 404
    assert response.json()["error"] == "activation_not_found"


@pytest.mark.django_db
def test_check_finds_an_instance_by_any_spelling_of_its_host(client, key):
    activate(client, key, "https://xn--exmple-cua.com/")
    response = client.get(f"/api/v1/product/check/{key}", {"instance_identifier": "EXÄMPLE.com"})
    assert response.json()["entitlements"][0]["instance_active"] is True
    assert deactivate(client, key, "ｅｘäｍｐｌｅ.com").status_code == 200


_INVALID_HOSTS = [
    "https://ex\u200dample.com",
    f"https://{'a' * 64}.com",
    "xn--zz.com",
    "\u0301example.com",
    "http://",
]


@pytest.mark.django_db
@pytest.mark.parametrize("instance", _INVALID_HOSTS)
def test_invalid_host_is_a_validation_error_naming_instance_identifier(client, key, instance):
    for response in (
        activate(client, key, instance),
        deactivate(client, key, instance),
        client.get(f"/api/v1/product/check/{key}", {"instance_identifier": instance}),
        client.post(
            "/api/v1/product/check",
            {"license_key": key, "instance_identifier": instance},
            format="json",
        ),
    ):
        assert response.status_code == 400
        assert response.json()["error"] == "validation_error"
        assert list(response.json()["details"]) == ["instance_identifier"]
    assert not Activation.objects.exists()


@pytest.mark.django_db
def test_invalid_host_reaching_the_service_is_a_validation_error(key):
    with pytest.raises(ValidationFailed) as caught:
        activation_create(
            license_key=key,
            product_slug="rankmath-pro",
            instance_identifier="https://ex\u200dample.com",
            actor=Actor.product(),
        )
    assert list(caught.value.details) == ["instance_identifier"]

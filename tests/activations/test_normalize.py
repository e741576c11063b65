"""Instance-identifier normalization (SPEC §6): a pure function, table-tested."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activations.normalize import instance_identifier_problem, normalize_instance_identifier


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
        ("https://Bücher.DE/", "bücher.de"),
        # machine ids: trimmed, otherwise kept as is
        ("  3F2504E0-4F89-11D3-9A0C-0305E82C3301 ", "3F2504E0-4F89-11D3-9A0C-0305E82C3301"),
        ("BUILD-AGENT-7", "BUILD-AGENT-7"),
        ("MacBook Pro (Jane)", "MacBook Pro (Jane)"),
        ("user@example.com", "user@example.com"),
        ("ftp://example.com/", "ftp://example.com/"),
        ("example.com:notaport", "example.com:notaport"),
        ("http://", "http://"),
        ("", ""),
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


@given(st.one_of(_url_like, _url_soup, st.text(max_size=80)))
def test_normalizing_twice_changes_nothing(raw):
    once = normalize_instance_identifier(raw)
    assert normalize_instance_identifier(once) == once


@given(st.one_of(_url_like, _url_soup, st.text(max_size=80)))
def test_normalized_identifier_has_no_surrounding_whitespace(raw):
    normalized = normalize_instance_identifier(raw)
    assert normalized == normalized.strip()


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

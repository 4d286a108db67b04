"""The other platforms' counts, and hashtag and URL extraction."""

import pytest
from siar_platforms import (
    code_point_length,
    extract_hashtags,
    extract_urls,
    grapheme_length,
    mastodon_length,
    threads_length,
    url_spans,
    utf8_length,
    utf16_length,
)

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"


# -- Bluesky: graphemes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("abc", 3),
        ("e\u0301", 1),  # e + combining acute: one grapheme, two code points
        ("ha\u0308\u0323", 2),  # several combining marks stay with their base
        ("😀", 1),
        (FAMILY, 1),
        ("🇮🇩", 1),
        ("🇮🇩🇳", 2),  # a lone regional indicator is its own grapheme
        ("👍🏽", 1),
        ("❤️", 1),
        ("한국어", 3),  # precomposed Hangul
        ("\u1112\u1161\u11ab", 1),  # the same syllable as jamo
        ("\r\n", 1),
        ("नमस्ते", 3),  # Devanagari conjuncts (UAX #29 with Indic conjunct breaks)
    ],
)
def test_grapheme_length(text: str, expected: int) -> None:
    assert grapheme_length(text) == expected


# -- Mastodon ----------------------------------------------------------------------------------


def test_mastodon_counts_urls_as_23() -> None:
    url = "https://perpustakaan.example.org/acara/2024/lomba-baca-puisi-untuk-anak"
    assert len(url) > 23
    assert mastodon_length(url) == 23
    assert mastodon_length(f"Daftar: {url} !") == 8 + 23 + 2
    assert mastodon_length("http://a.co") == 23  # shorter URLs count 23 too
    assert mastodon_length(f"see {url}", characters_reserved_per_url=30) == 34


def test_mastodon_needs_a_scheme_for_urls() -> None:
    assert mastodon_length("perpusnas.go.id") == 15


def test_mastodon_remote_mentions_count_as_local() -> None:
    assert mastodon_length("@budi@mastodon.social") == 5
    assert mastodon_length("Halo @budi@mastodon.social dan @sari!") == len("Halo @budi dan @sari!")
    assert mastodon_length("@budi.santoso@social.example.id") == len("@budi.santoso")
    # not a mention after a word character (an e-mail address)
    assert mastodon_length("budi@mastodon.social") == 20


def test_mastodon_counts_graphemes() -> None:
    assert mastodon_length(FAMILY + "🇮🇩e\u0301") == 3


# -- Threads: emoji as UTF-8 bytes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("abc", 3),
        ("é", 1),  # not an emoji: one character
        ("日本", 2),
        ("😀", 4),
        ("❤️", 6),  # U+2764 (3 bytes) + VS16 (3 bytes)
        ("🇮🇩", 8),
        (FAMILY, 25),  # 4 × 4 bytes + 3 ZWJ × 3 bytes
        ("👍🏽", 8),
        ("Halo 👋", 5 + 4),
        ("©", 1),
        ("©️", 5),
    ],
)
def test_threads_length(text: str, expected: int) -> None:
    assert threads_length(text) == expected


# -- UTF-16, UTF-8, code points -------------------------------------------------------------------


def test_utf16_length() -> None:
    assert utf16_length("") == 0
    assert utf16_length("abc") == 3
    assert utf16_length("日本") == 2
    assert utf16_length("😀") == 2
    assert utf16_length(FAMILY) == 11
    assert utf16_length("\ud800") == 1  # a lone surrogate is counted, not an error


def test_utf8_length() -> None:
    assert utf8_length("abc") == 3
    assert utf8_length("é") == 2
    assert utf8_length("日") == 3
    assert utf8_length("😀") == 4
    assert utf8_length("\udfff") == 3


def test_code_point_length() -> None:
    assert code_point_length("😀") == 1
    assert code_point_length(FAMILY) == 7
    assert code_point_length("e\u0301") == 2


# -- Hashtags ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#perpustakaan", ["perpustakaan"]),
        ("Ayo ke #PerpustakaanKota dan #HariBukuNasional!", ["PerpustakaanKota", "HariBukuNasional"]),
        ("#1st #that1time #easyas123", ["1st", "that1time", "easyas123"]),
        ("#2024", []),  # digits only
        ("#_", ["_"]),
        ("#ашок #트위터 #日本語 #Ünïcode", ["ашок", "트위터", "日本語", "Ünïcode"]),
        ("#café", ["café"]),
        ("#cafe\u0301", ["cafe\u0301"]),  # combining marks belong to the tag
        ("＃全角", ["全角"]),  # full-width number sign
        ("a#b c#d", []),  # after a letter: not a hashtag
        ("&#39;", []),  # an HTML entity
        ("#foo#bar", []),  # twitter-text drops both
        ("(#buku)", ["buku"]),
        ("#buku, #baca.", ["buku", "baca"]),
        ("#buku #buku", ["buku", "buku"]),  # every occurrence
        ("https://example.com/#bagian", []),  # inside a URL
        ("#️⃣", []),  # keycap emoji
        ("😀#senang", ["senang"]),
        ("# spasi", []),
        ("", []),
    ],
)
def test_extract_hashtags(text: str, expected: list[str]) -> None:
    assert extract_hashtags(text) == expected


# -- URLs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com", ["https://example.com"]),
        ("Lihat https://example.com/acara?id=3.", ["https://example.com/acara?id=3"]),
        ("(https://example.com/a_(b))", ["https://example.com/a_(b)"]),
        ("kunjungi perpusnas.go.id/koleksi!", ["perpusnas.go.id/koleksi"]),
        ("www.example.org dan example.com", ["www.example.org", "example.com"]),
        ("t.co", ["t.co"]),
        ("file.py", []),
        ("perpusnas.go.id", ["perpusnas.go.id"]),
        ("budi@example.com", []),
        ("HTTPS://WWW.EXAMPLE.COM/Index.html", ["HTTPS://WWW.EXAMPLE.COM/Index.html"]),
        ("http://example.com/これは日本語です。example.com中国語", ["http://example.com/", "example.com"]),
        ("http://☃.net/", ["http://☃.net/"]),
        ("http://example.com/Русские_слова", ["http://example.com/Русские_слова"]),
        ("http://[3ffe:1900:4545:3:200:f8ff:fe21:67cf]:80/index.html", ["http://[3ffe:1900:4545:3:200:f8ff:fe21:67cf]:80/index.html"]),
        ("ftp://example.com", []),  # other schemes are not URLs, nor is the domain after "/"
        ("Jl.Sudirman No.5, dll.", []),
        ("", []),
    ],
)
def test_extract_urls(text: str, expected: list[str]) -> None:
    assert extract_urls(text) == expected
    spans = url_spans(text)
    assert [text[s:e] for s, e in spans] == expected
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))


def test_url_spans_point_at_each_occurrence() -> None:
    # "example.com" inside an e-mail address is not a URL; the span is the second, standalone one.
    text = "budi@example.com lalu example.com/buku."
    assert url_spans(text) == [(22, 38)] and text[22:38] == "example.com/buku"

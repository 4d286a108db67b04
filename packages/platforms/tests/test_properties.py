"""Properties that hold for any text and any media."""

import math
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from siar_platforms import (
    LIMIT_ALIASES,
    Content,
    Media,
    Platform,
    Violation,
    code_point_length,
    extract_hashtags,
    extract_urls,
    grapheme_length,
    mastodon_length,
    rules_for,
    threads_length,
    utf8_length,
    utf16_length,
    validate,
    x_weighted_length,
)

# Any text: every code point, including lone surrogates.
ANY_TEXT = st.text(alphabet=st.characters(codec=None, categories=None), max_size=300)

# Pieces of realistic posts: Indonesian and other scripts, combining marks, emoji sequences.
TOKENS = [
    "Perpustakaan", "buku", "baca", " ", "\n", "!", ",", "é", "e\u0301", "ß", "Жук", "日本語", "한국어",
    "ภาษาไทย", "عربي", "😀", "📚", "❤️", "👍🏽", "🇮🇩", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "1️⃣", "©", "☺\ufe0e", "\u200d", "\ufe0f", "'", "-", "(", ")",
]
POST_TEXT = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
# The same with the makings of URLs, mentions and hashtags.
ENTITY_TOKENS = [
    *TOKENS, "https://", "http://", "www", "example", "perpusnas", ".", ".com", ".co", ".id", ".go", "/", "?",
    ":", "8080", "#", "＃", "@", "@budi", "@mastodon.social", "_", "(", ")", "[", "]", "xn--p1ai", "☃",
]
ENTITY_TEXT = st.lists(st.sampled_from(ENTITY_TOKENS), max_size=40).map("".join)

LENGTHS = {
    "x_weighted_length": x_weighted_length,
    "grapheme_length": grapheme_length,
    "mastodon_length": mastodon_length,
    "threads_length": threads_length,
    "utf16_length": utf16_length,
    "utf8_length": utf8_length,
    "code_point_length": code_point_length,
}
# Lengths that only ever grow when anything is appended. X and Mastodon shorten what they
# recognise (a URL counts 23, "@user@domain" counts as "@user", an emoji sequence counts 2), so
# completing an entity can shorten them: "👨\u200d" weighs 3 on X, "👨\u200d👩" weighs 2; a
# 30-character "https://longhostname" is no URL until ".org" is appended. That is the platforms'
# own definition. They only grow when the appended text starts with a space.
ADDITIVE = ["grapheme_length", "threads_length", "utf16_length", "utf8_length", "code_point_length"]


@given(ANY_TEXT)
def test_lengths_are_never_negative(text: str) -> None:
    for name, length in LENGTHS.items():
        assert length(text) >= 0, name


@given(ANY_TEXT | ENTITY_TEXT, ANY_TEXT | ENTITY_TEXT)
def test_appending_never_shortens_additive_lengths(a: str, b: str) -> None:
    for name in ADDITIVE:
        assert LENGTHS[name](a + b) >= LENGTHS[name](a), name


@given(ANY_TEXT | ENTITY_TEXT, ANY_TEXT | ENTITY_TEXT)
def test_appending_a_word_never_shortens_any_length(a: str, b: str) -> None:
    for name, length in LENGTHS.items():
        assert length(a + " " + b) >= length(a), name


@given(st.text(alphabet=st.characters(max_codepoint=127, exclude_characters="."), max_size=400))
def test_ascii_without_urls_weighs_one_per_character_on_x(text: str) -> None:
    if extract_urls(text):  # only an IPv6 literal like http://[::1] is a URL without a dot
        return
    assert x_weighted_length(text) == len(text)


@given(POST_TEXT)
def test_x_weighs_at_most_two_per_code_point_without_urls(text: str) -> None:
    assert x_weighted_length(text) <= 2 * len(unicodedata.normalize("NFC", text))


@given(ANY_TEXT | ENTITY_TEXT)
def test_extraction_never_raises_and_returns_substrings(text: str) -> None:
    for url in extract_urls(text):
        assert url in text
    for tag in extract_hashtags(text):
        assert tag in text
        assert not tag.isdecimal()


MEDIA = st.builds(
    Media,
    kind=st.sampled_from(["image", "video", "gif"]) | st.text(max_size=5),
    url=st.text(max_size=20),
    alt_text=st.none() | st.text(max_size=2_000),
    size_bytes=st.none() | st.integers(min_value=-(2**40), max_value=2**42),
    duration_seconds=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    mime_type=st.none() | st.sampled_from(["image/jpeg", "image/png", "video/mp4", "video/webm", ""]) | st.text(max_size=10),
)
LIMITS = st.none() | st.dictionaries(
    st.sampled_from([*LIMIT_ALIASES, "max_text_length", "max_video_seconds", "max_media", "nonsense"]),
    st.integers(min_value=-5, max_value=10_000) | st.floats(allow_nan=True) | st.text(max_size=3) | st.booleans(),
    max_size=4,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(list(Platform)),
    ANY_TEXT | ENTITY_TEXT,
    st.lists(MEDIA, max_size=12).map(tuple),
    st.none() | ANY_TEXT,
    LIMITS,
)
def test_validate_never_raises(platform, text, media, title, limits) -> None:
    found = validate(platform, Content(text=text, media=media, title=title), limits=limits)
    assert isinstance(found, list)
    name = rules_for(platform).display_name
    for v in found:
        assert isinstance(v, Violation)
        assert v.platform is platform
        assert v.message.startswith(name)
        assert v.message == v.message.strip() and "\n" not in v.message
        if v.media_index is not None:
            assert 0 <= v.media_index < len(media)
        if isinstance(v.actual, float):
            assert not math.isnan(v.actual)


# What each platform needs besides text for a post to be complete.
NEEDS = {
    Platform.INSTAGRAM: {"media": (Media("image", "https://cdn.example.org/a.jpg"),)},
    Platform.YOUTUBE: {"media": (Media("video", "https://cdn.example.org/a.mp4"),), "title": "Judul"},
    Platform.TIKTOK: {"media": (Media("video", "https://cdn.example.org/a.mp4"),)},
}


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list(Platform)), POST_TEXT, st.booleans())
def test_text_exactly_at_the_limit_is_valid_and_one_more_is_refused(platform: Platform, base: str, with_media: bool) -> None:
    rules = rules_for(platform)
    extra = dict(NEEDS.get(platform, {}))
    if with_media and "media" not in extra:
        extra["media"] = (Media("image", "https://cdn.example.org/a.jpg"),)
    limit = rules.text_limit(with_media="media" in extra)
    room = limit - rules.count_text(base)
    assert room >= 0
    at_limit = base + "a" * room
    assert rules.count_text(at_limit) == limit
    assert validate(platform, Content(at_limit, **extra)) == []
    over = validate(platform, Content(at_limit + "a", **extra))
    assert [(v.rule, v.actual, v.limit) for v in over] == [("text_too_long", limit + 1, limit)]


@given(POST_TEXT)
def test_lengths_agree_where_they_must(text: str) -> None:
    assert utf16_length(text) >= code_point_length(text) >= grapheme_length(text)
    assert utf8_length(text) >= code_point_length(text)
    assert threads_length(text) >= code_point_length(text)  # an emoji's bytes >= its code points


def test_pathological_texts_are_judged_quickly() -> None:
    """Validation runs while a librarian waits; no input of Facebook's maximum size may stall it."""
    import time

    texts = [
        "a." * 31_600,
        "http://" + "a." * 31_000,
        "🇮" * 63_000,
        "#" * 63_000,
        "@a" * 31_600,
        "\U0001f468\u200d" * 21_000,
        "https://example.com/" + "(" * 63_000,
        ("Perpustakaan https://example.com/x #buku @budi@m.social 🇮🇩 ") * 1_000,
    ]
    for text in texts:
        for platform in Platform:
            started = time.perf_counter()
            validate(platform, Content(text))
            assert time.perf_counter() - started < 1.0, (platform, text[:20])

"""The rule table and per-account overrides."""

import dataclasses

import pytest
from siar_platforms import RULES, Platform, PlatformRules, TextCounting, rules_for


def test_every_platform_has_rules() -> None:
    assert set(RULES) == set(Platform)
    assert [p.value for p in Platform] == [
        "facebook", "instagram", "threads", "x", "youtube", "tiktok", "telegram", "mastodon", "bluesky", "linkedin",
    ]
    for platform, rules in RULES.items():
        assert rules.platform is platform
        assert rules.sources, platform
        assert rules.media_required == (rules.min_media > 0)
        assert rules.solo_media_kinds <= rules.allowed_media_kinds


@pytest.mark.parametrize(
    ("platform", "name", "limit", "counting"),
    [
        ("facebook", "Facebook", 63_206, TextCounting.CODE_POINTS),
        ("instagram", "Instagram", 2_200, TextCounting.CODE_POINTS),
        ("threads", "Threads", 500, TextCounting.THREADS),
        ("x", "X", 280, TextCounting.X_WEIGHTED),
        ("youtube", "YouTube", 5_000, TextCounting.UTF8_BYTES),
        ("tiktok", "TikTok", 2_200, TextCounting.UTF16),
        ("telegram", "Telegram", 4_096, TextCounting.UTF16),
        ("mastodon", "Mastodon", 500, TextCounting.MASTODON),
        ("bluesky", "Bluesky", 300, TextCounting.GRAPHEMES),
        ("linkedin", "LinkedIn", 3_000, TextCounting.CODE_POINTS),
    ],
)
def test_text_limits(platform: str, name: str, limit: int, counting: TextCounting) -> None:
    rules = rules_for(platform)
    assert rules.display_name == name
    assert rules.max_text_length == limit
    assert rules.text_counting is counting


def test_media_rules() -> None:
    x = rules_for(Platform.X)
    assert (x.max_images, x.max_gifs, x.max_videos, x.max_media) == (4, 1, 1, 4)
    assert x.solo_media_kinds == {"video", "gif"}
    assert (x.max_image_bytes, x.max_gif_bytes, x.max_video_bytes) == (5 * 2**20, 15 * 2**20, 512 * 2**20)
    ig = rules_for("instagram")
    assert (ig.media_required, ig.min_media, ig.max_media, ig.max_hashtags) == (True, 1, 10, 30)
    assert ig.allowed_media_kinds == {"image", "video"}
    assert (ig.min_video_seconds, ig.max_video_seconds) == (3, 900)
    yt = rules_for("youtube")
    assert (yt.media_required, yt.max_media, yt.allowed_media_kinds) == (True, 1, {"video"})
    assert (yt.title_required, yt.max_title_length) == (True, 100)
    tt = rules_for("tiktok")
    assert (tt.media_required, tt.max_images, tt.max_videos, tt.max_title_length) == (True, 35, 1, 2_200)
    assert (tt.min_video_seconds, tt.max_video_seconds) == (3, 600)
    tg = rules_for("telegram")
    assert (tg.max_text_length, tg.max_caption_length, tg.max_media) == (4_096, 1_024, 10)
    assert rules_for("mastodon").max_media == 4
    bsky = rules_for("bluesky")
    assert (bsky.max_images, bsky.max_image_bytes, bsky.max_video_bytes, bsky.max_text_bytes) == (
        4, 2_000_000, 300_000_000, 3_000,
    )
    assert rules_for("threads").max_media == 20
    assert rules_for("facebook").media_required is False


def test_text_limit_with_media_is_the_caption_limit() -> None:
    tg = rules_for("telegram")
    assert tg.text_limit(with_media=False) == 4_096
    assert tg.text_limit(with_media=True) == 1_024
    assert rules_for("x").text_limit(with_media=True) == 280


def test_rules_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules_for("x").max_text_length = 1_000  # type: ignore[misc]


def test_mastodon_instance_limits_override() -> None:
    rules = rules_for(
        "mastodon",
        {"max_characters": 1000, "characters_reserved_per_url": 30, "max_media_attachments": 6},
    )
    assert (rules.max_text_length, rules.url_length, rules.max_media) == (1000, 30, 6)
    assert rules_for("mastodon").max_text_length == 500  # the defaults are untouched


def test_overrides_by_field_name_and_alias() -> None:
    assert rules_for("x", {"max_video_seconds": 10_800}).max_video_seconds == 10_800.0
    assert rules_for("telegram", {"max_caption": 2_048}).max_caption_length == 2_048
    assert rules_for("tiktok", {"max_video_post_duration_sec": 300}).max_video_seconds == 300
    m = rules_for("mastodon", {"image_size_limit": 16_777_216, "video_size_limit": 103_809_024, "description_limit": 1500})
    assert (m.max_image_bytes, m.max_video_bytes, m.max_alt_text_length) == (16_777_216, 103_809_024, 1500)


def test_unusable_overrides_are_ignored() -> None:
    base = rules_for("mastodon")
    assert rules_for("mastodon", {"unknown": 3, "display_name": 4, "max_characters": "many"}) == base
    assert rules_for("mastodon", {"max_characters": -1, "max_media": True}) == base
    assert rules_for("mastodon", {"max_characters": float("nan")}) == base
    assert rules_for("mastodon", {}) is base


def test_unknown_platform() -> None:
    with pytest.raises(ValueError, match="unknown platform 'myspace'"):
        rules_for("myspace")


def test_rules_are_data() -> None:
    as_dict = dataclasses.asdict(rules_for("telegram"))
    assert as_dict["max_caption_length"] == 1_024
    assert isinstance(rules_for("x"), PlatformRules)

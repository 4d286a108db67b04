"""What each platform accepts, as data: one frozen :class:`PlatformRules` per platform.

Numbers come from Siar's ``shared/platforms.md`` (section "Limits" of each platform) unless the
``sources`` of a rule set say otherwise. "MB" in a source is read as 2**20 bytes unless the
source gives bytes (Bluesky, Mastodon) or decimal units (python-telegram-bot's constants).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from .model import Platform
from .text import (
    code_point_length,
    grapheme_length,
    mastodon_length,
    threads_length,
    utf8_length,
    utf16_length,
    x_weighted_length,
)

__all__ = ["LIMIT_ALIASES", "RULES", "PlatformRules", "TextCounting", "count_text", "rules_for"]

KB = 1024
MB = 1024 * KB
GB = 1024 * MB


class TextCounting(StrEnum):
    """How a platform measures a text (see the functions in :mod:`siar_platforms.text`)."""

    X_WEIGHTED = "x_weighted"  # x_weighted_length
    GRAPHEMES = "graphemes"  # grapheme_length
    MASTODON = "mastodon"  # mastodon_length
    THREADS = "threads"  # threads_length
    UTF16 = "utf16"  # utf16_length
    UTF8_BYTES = "utf8_bytes"  # utf8_length
    CODE_POINTS = "code_points"  # code_point_length

    @property
    def unit(self) -> str:
        """The word a message uses for this count."""
        return "bytes" if self is TextCounting.UTF8_BYTES else "characters"


@dataclass(frozen=True, slots=True)
class PlatformRules:
    """Everything Siar checks before it accepts a post for one platform.

    ``None`` means "no limit known or none applies". Media counts: ``max_media`` is the most
    attachments in one post; ``max_images``/``max_videos``/``max_gifs`` the most of one kind;
    a kind in ``solo_media_kinds`` must be the only kind in the post (X: a video or a GIF stands
    alone). ``max_gif_bytes`` of ``None`` falls back to ``max_image_bytes``."""

    platform: Platform
    display_name: str
    # Text
    max_text_length: int
    text_counting: TextCounting
    max_caption_length: int | None = None  # instead of max_text_length when media is attached
    max_text_bytes: int | None = None  # a second limit in UTF-8 bytes (Bluesky)
    url_length: int | None = None  # what one URL counts, for X_WEIGHTED and MASTODON
    forbidden_characters: str = ""
    max_hashtags: int | None = None
    # Media
    media_required: bool = False
    min_media: int = 0
    max_media: int | None = 0
    allowed_media_kinds: frozenset[str] = frozenset()
    max_images: int | None = None
    max_videos: int | None = None
    max_gifs: int | None = None
    solo_media_kinds: frozenset[str] = frozenset()
    image_mime_types: frozenset[str] | None = None
    video_mime_types: frozenset[str] | None = None
    max_image_bytes: int | None = None
    max_gif_bytes: int | None = None
    max_video_bytes: int | None = None
    min_video_seconds: float | None = None
    max_video_seconds: float | None = None
    max_alt_text_length: int | None = None
    # Title (YouTube, TikTok)
    title_required: bool = False
    max_title_length: int | None = None
    max_photo_post_title_length: int | None = None  # TikTok photo posts
    title_counting: TextCounting = TextCounting.CODE_POINTS
    title_forbidden_characters: str = ""
    # Where the numbers come from
    sources: tuple[str, ...] = ()

    @property
    def has_title(self) -> bool:
        return self.title_required or self.max_title_length is not None

    def text_limit(self, *, with_media: bool) -> int:
        """The text limit that applies: the caption limit when media is attached, if lower."""
        if with_media and self.max_caption_length is not None:
            return self.max_caption_length
        return self.max_text_length

    def count_text(self, text: str) -> int:
        """``text`` measured the way this platform measures it."""
        return count_text(self.text_counting, text, url_length=self.url_length)


def count_text(counting: TextCounting, text: str, *, url_length: int | None = None) -> int:
    """``text`` measured by ``counting``; ``url_length`` for the two counts that shorten URLs."""
    reserved = 23 if url_length is None else url_length
    counters: dict[TextCounting, Callable[[str], int]] = {
        TextCounting.X_WEIGHTED: lambda t: x_weighted_length(t, url_length=reserved),
        TextCounting.GRAPHEMES: grapheme_length,
        TextCounting.MASTODON: lambda t: mastodon_length(t, reserved),
        TextCounting.THREADS: threads_length,
        TextCounting.UTF16: utf16_length,
        TextCounting.UTF8_BYTES: utf8_length,
        TextCounting.CODE_POINTS: code_point_length,
    }
    return counters[counting](text)


_IMAGE_VIDEO = frozenset({"image", "video"})
_ALL_KINDS = frozenset({"image", "video", "gif"})

RULES: Mapping[Platform, PlatformRules] = {
    Platform.FACEBOOK: PlatformRules(
        platform=Platform.FACEBOOK,
        display_name="Facebook",
        max_text_length=63_206,
        text_counting=TextCounting.CODE_POINTS,
        max_media=None,
        allowed_media_kinds=_ALL_KINDS,
        max_videos=1,
        solo_media_kinds=frozenset({"video"}),
        max_image_bytes=4 * MB,
        sources=(
            "text 63,206 characters, photos 4 MB: gitroomhq/postiz-app facebook provider (platforms.md; unconfirmed officially)",
            "a video is posted on its own through /{page_id}/videos with the text as description (platforms.md)",
        ),
    ),
    Platform.INSTAGRAM: PlatformRules(
        platform=Platform.INSTAGRAM,
        display_name="Instagram",
        max_text_length=2_200,
        text_counting=TextCounting.CODE_POINTS,
        max_hashtags=30,
        media_required=True,
        min_media=1,
        max_media=10,
        allowed_media_kinds=_IMAGE_VIDEO,
        image_mime_types=frozenset({"image/jpeg"}),
        max_image_bytes=8 * MB,
        max_video_bytes=1 * GB,
        min_video_seconds=3,
        max_video_seconds=15 * 60,
        sources=(
            "media required; one image or video, or a carousel of 2-10; caption 2,200 characters, at most 30 hashtags; "
            "JPEG images up to 8 MB; Reels 3 s to 15 min, up to 1 GB (platforms.md: ayrshare.com Instagram docs)",
            "no GIFs: containers take image_url (JPEG) or video_url (platforms.md, Instagram publish)",
        ),
    ),
    Platform.THREADS: PlatformRules(
        platform=Platform.THREADS,
        display_name="Threads",
        max_text_length=500,
        text_counting=TextCounting.THREADS,
        max_media=20,
        allowed_media_kinds=_IMAGE_VIDEO,
        max_image_bytes=8 * MB,
        max_video_bytes=1 * GB,
        max_video_seconds=5 * 60,
        sources=(
            "500 characters, emoji counted as their UTF-8 bytes (developers.facebook.com/documentation/threads/posts)",
            "media_type TEXT|IMAGE|VIDEO|CAROUSEL, a carousel of up to 20; image 8 MB, video 5 min / 1 GB (platforms.md; ayrshare, unconfirmed)",
        ),
    ),
    Platform.X: PlatformRules(
        platform=Platform.X,
        display_name="X",
        max_text_length=280,
        text_counting=TextCounting.X_WEIGHTED,
        url_length=23,
        max_media=4,
        allowed_media_kinds=_ALL_KINDS,
        max_images=4,
        max_videos=1,
        max_gifs=1,
        solo_media_kinds=frozenset({"video", "gif"}),
        max_image_bytes=5 * MB,
        max_gif_bytes=15 * MB,
        max_video_bytes=512 * MB,
        min_video_seconds=0.5,
        max_video_seconds=140,
        max_alt_text_length=1_000,
        sources=(
            "280 weighted characters: twitter/twitter-text config/v3.json (platforms.md)",
            "4 photos, or 1 GIF, or 1 video; image 5 MB, GIF 15 MB, video 512 MB: xdevplatform/docs "
            "x-api/media/quickstart/best-practices.mdx (platforms.md)",
            "video 0.5-140 s without Premium: ayrshare.com and docs.getlate.dev X media guidelines; "
            "Premium accounts: raise max_video_seconds through limits",
            "alt text up to 1,000 characters: docs.x.com media metadata",
        ),
    ),
    Platform.YOUTUBE: PlatformRules(
        platform=Platform.YOUTUBE,
        display_name="YouTube",
        max_text_length=5_000,
        text_counting=TextCounting.UTF8_BYTES,
        forbidden_characters="<>",
        media_required=True,
        min_media=1,
        max_media=1,
        allowed_media_kinds=frozenset({"video"}),
        max_videos=1,
        max_video_bytes=256 * GB,
        max_video_seconds=15 * 60,
        title_required=True,
        max_title_length=100,
        title_counting=TextCounting.CODE_POINTS,
        title_forbidden_characters="<>",
        sources=(
            "one video, up to 256 GB (developers.google.com/youtube/v3/docs/videos/insert)",
            "title required, up to 100 characters; description up to 5,000 bytes; neither may contain < or > "
            "(developers.google.com/youtube/v3/docs/videos, snippet.title and snippet.description)",
            "15 minutes for unverified channels (docs.zernio.com/platforms/youtube); verified channels: "
            "raise max_video_seconds through limits (up to 12 h)",
        ),
    ),
    Platform.TIKTOK: PlatformRules(
        platform=Platform.TIKTOK,
        display_name="TikTok",
        max_text_length=2_200,
        text_counting=TextCounting.UTF16,
        media_required=True,
        min_media=1,
        max_media=35,
        allowed_media_kinds=_IMAGE_VIDEO,
        max_images=35,
        max_videos=1,
        solo_media_kinds=frozenset({"video"}),
        max_video_bytes=4 * GB,
        min_video_seconds=3,
        max_video_seconds=10 * 60,
        max_title_length=2_200,
        max_photo_post_title_length=90,
        title_counting=TextCounting.UTF16,
        sources=(
            "media required: one video or up to 35 photos, never both; video up to 4 GB, 3 s to 10 min "
            "(creator_info max_video_post_duration_sec per account) (platforms.md; docs.getlate.dev)",
            "title (the caption) up to 2,200 UTF-16 units (platforms.md: docs.workato.com TikTok)",
            "photo posts: title up to 90 characters (developers.tiktok.com content-posting-api-reference-photo-post; docs.zernio.com)",
        ),
    ),
    Platform.TELEGRAM: PlatformRules(
        platform=Platform.TELEGRAM,
        display_name="Telegram",
        max_text_length=4_096,
        text_counting=TextCounting.UTF16,
        max_caption_length=1_024,
        max_media=10,
        allowed_media_kinds=_ALL_KINDS,
        max_gifs=1,
        solo_media_kinds=frozenset({"gif"}),
        max_image_bytes=10_000_000,
        max_gif_bytes=50_000_000,
        max_video_bytes=50_000_000,
        sources=(
            "text 4,096 characters, caption 1,024; photo upload 10 MB, other uploads 50 MB "
            "(platforms.md: python-telegram-bot v12.7 constants)",
            "one photo or video (sendPhoto/sendVideo) or an album of 2-10 (sendMediaGroup); "
            "an animation (GIF) cannot be part of an album (core.telegram.org/bots/api#sendmediagroup)",
        ),
    ),
    Platform.MASTODON: PlatformRules(
        platform=Platform.MASTODON,
        display_name="Mastodon",
        max_text_length=500,
        text_counting=TextCounting.MASTODON,
        url_length=23,
        max_media=4,
        allowed_media_kinds=_ALL_KINDS,
        max_videos=1,
        solo_media_kinds=frozenset({"video"}),
        max_image_bytes=10_485_760,
        max_video_bytes=41_943_040,
        max_alt_text_length=1_500,
        sources=(
            "defaults of GET /api/v2/instance: max_characters 500, characters_reserved_per_url 23, "
            "max_media_attachments 4; image 10,485,760 and video 41,943,040 bytes on mastodon.social (platforms.md); "
            "every account overrides them with its instance's values",
            "a video cannot be combined with other attachments; a GIF counts as an image "
            "(mastodon/mastodon PostStatusService, MediaAttachment); description_limit 1,500",
        ),
    ),
    Platform.BLUESKY: PlatformRules(
        platform=Platform.BLUESKY,
        display_name="Bluesky",
        max_text_length=300,
        text_counting=TextCounting.GRAPHEMES,
        max_text_bytes=3_000,
        max_media=4,
        allowed_media_kinds=_IMAGE_VIDEO,
        max_images=4,
        max_videos=1,
        solo_media_kinds=frozenset({"video"}),
        video_mime_types=frozenset({"video/mp4"}),
        max_image_bytes=2_000_000,
        max_video_bytes=300_000_000,
        sources=(
            "text 300 graphemes and 3,000 bytes (ATP lexicons app/bsky/feed/post.json)",
            "up to 4 images of 2,000,000 bytes (app/bsky/embed/images.json), or one MP4 video of "
            "300,000,000 bytes (app/bsky/embed/video.json); an embed is either images or a video",
        ),
    ),
    Platform.LINKEDIN: PlatformRules(
        platform=Platform.LINKEDIN,
        display_name="LinkedIn",
        max_text_length=3_000,
        text_counting=TextCounting.CODE_POINTS,
        max_media=20,
        # LinkedIn takes one video, but Siar's LinkedIn adapter does not send videos yet: refused
        # when the post is scheduled rather than when it is due.
        allowed_media_kinds=frozenset({"image", "gif"}),
        max_images=20,
        max_videos=0,
        sources=(
            "commentary up to 3,000 characters (platforms.md)",
            "one image or a MultiImage post of 2-20 images "
            "(learn.microsoft.com/linkedin/marketing/community-management/shares/multiimage-post-api); "
            "LinkedIn also takes one video, which Siar does not send yet",
        ),
    ),
}

# Keys accepted in ``limits`` besides the numeric field names of PlatformRules: what the
# platforms themselves call them (Mastodon's /api/v2/instance, TikTok's creator_info, the
# Telegram adapter).
LIMIT_ALIASES: Mapping[str, str] = {
    "max_characters": "max_text_length",
    "characters_reserved_per_url": "url_length",
    "max_media_attachments": "max_media",
    "max_caption": "max_caption_length",
    "image_size_limit": "max_image_bytes",
    "video_size_limit": "max_video_bytes",
    "description_limit": "max_alt_text_length",
    "max_video_post_duration_sec": "max_video_seconds",
}

_FLOAT_FIELDS = frozenset({"min_video_seconds", "max_video_seconds"})
_NUMERIC_FIELDS = _FLOAT_FIELDS | frozenset({
    "max_text_length", "max_caption_length", "max_text_bytes", "url_length", "max_hashtags",
    "min_media", "max_media", "max_images", "max_videos", "max_gifs", "max_image_bytes",
    "max_gif_bytes", "max_video_bytes", "max_alt_text_length", "max_title_length",
    "max_photo_post_title_length",
})


def _coerce(name: str, value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return float(value) if name in _FLOAT_FIELDS else int(value)


def rules_for(platform: Platform | str, limits: Mapping[str, Any] | None = None) -> PlatformRules:
    """The rules for ``platform``, with per-account ``limits`` applied.

    ``limits`` holds numbers under a field name of :class:`PlatformRules` (``max_text_length``,
    ``max_video_seconds`` …) or under the platform's own name for it (:data:`LIMIT_ALIASES`,
    e.g. a Mastodon instance's ``{"max_characters": 1000, "characters_reserved_per_url": 23,
    "max_media_attachments": 4}``). Keys that are neither, and values that are not non-negative
    numbers, are ignored: limits come from platforms and must not break validation.

    Raises ``ValueError`` for an unknown platform."""
    try:
        base = RULES[Platform(platform)]
    except ValueError:
        raise ValueError(
            f"unknown platform {platform!r}; known: {', '.join(p.value for p in Platform)}"
        ) from None
    if not limits:
        return base
    changes: dict[str, int | float] = {}
    for key, value in limits.items():
        name = LIMIT_ALIASES.get(key, key)
        if name not in _NUMERIC_FIELDS:
            continue
        coerced = _coerce(name, value)
        if coerced is not None:
            changes[name] = coerced
    return replace(base, **changes) if changes else base

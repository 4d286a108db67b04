"""The values the rest of Siar passes in and gets back: platforms, content, violations."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

__all__ = ["Content", "Media", "MediaKind", "Platform", "Rule", "Violation"]

MediaKind = Literal["image", "video", "gif"]


class Platform(StrEnum):
    """Every platform Siar publishes to; the value is the id used in the API and the database."""

    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    THREADS = "threads"
    X = "x"
    YOUTUBE = "youtube"
    TIKTOK = "tiktok"
    TELEGRAM = "telegram"
    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    LINKEDIN = "linkedin"


class Rule(StrEnum):
    """Stable machine codes of :class:`Violation`; clients may switch on them."""

    TEXT_EMPTY = "text_empty"
    TEXT_TOO_LONG = "text_too_long"
    FORBIDDEN_CHARACTERS = "forbidden_characters"
    TOO_MANY_HASHTAGS = "too_many_hashtags"
    TITLE_REQUIRED = "title_required"
    TITLE_TOO_LONG = "title_too_long"
    MEDIA_REQUIRED = "media_required"
    TOO_MANY_MEDIA = "too_many_media"
    MIXED_MEDIA = "mixed_media"
    UNSUPPORTED_MEDIA = "unsupported_media"
    MEDIA_TOO_LARGE = "media_too_large"
    VIDEO_TOO_LONG = "video_too_long"
    VIDEO_TOO_SHORT = "video_too_short"
    ALT_TEXT_TOO_LONG = "alt_text_too_long"


@dataclass(frozen=True, slots=True)
class Media:
    """One attachment. Only what is given is checked: a size or duration of ``None`` is unknown,
    and the rule that needs it is skipped (the publisher checks again once it knows)."""

    kind: MediaKind
    url: str
    alt_text: str | None = None
    size_bytes: int | None = None
    duration_seconds: float | None = None
    mime_type: str | None = None


@dataclass(frozen=True, slots=True)
class Content:
    """What is posted: one text, its attachments, and a title where the platform has one
    (YouTube's video title, TikTok's post title). For YouTube the text is the description."""

    text: str
    media: tuple[Media, ...] = ()
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason a platform would refuse the content.

    ``actual`` and ``limit`` are the two numbers compared (in the unit the message names); for
    rules without numbers, ``actual`` is the offending value (a media kind, a MIME type, the
    forbidden characters found) and ``limit`` what is allowed, or ``None``. ``media_index`` is the 0-based index
    of the attachment concerned, if one is."""

    platform: Platform
    rule: Rule
    actual: int | float | str | None
    limit: int | float | str | None
    message: str
    media_index: int | None = None

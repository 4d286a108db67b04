"""``validate``: every reason one platform would refuse one piece of content."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from .model import Content, Media, Platform, Rule, Violation
from .rules import PlatformRules, count_text, rules_for
from .text import extract_hashtags, utf8_length

__all__ = ["validate"]

_NOUN = {"image": "image", "video": "video", "gif": "GIF"}
_PLURAL = {"image": "images", "video": "videos", "gif": "GIFs"}
_KIND_ORDER = ("image", "video", "gif")


def validate(
    platform: Platform | str, content: Content, *, limits: Mapping[str, Any] | None = None
) -> list[Violation]:
    """Every rule of ``platform`` that ``content`` breaks, in a stable order (text, title,
    media); an empty list means the platform should accept it.

    ``limits`` overrides the defaults for one account (see :func:`rules_for`), e.g. a Mastodon
    instance's ``{"max_characters": 1000}``. Sizes and durations of media are checked only when
    given. Raises ``ValueError`` only for an unknown platform; any text and media are judged,
    never raised on."""
    rules = rules_for(platform, limits)
    check = _Check(rules, content)
    check.text()
    check.title()
    check.media()
    return check.found


class _Check:
    def __init__(self, rules: PlatformRules, content: Content) -> None:
        self.rules = rules
        self.name = rules.display_name
        self.text_value = content.text if isinstance(content.text, str) else ""
        self.title_value = content.title if isinstance(content.title, str) else None
        self.items: tuple[Media, ...] = tuple(content.media or ())
        self.found: list[Violation] = []

    def add(
        self,
        rule: Rule,
        actual: int | float | str | None,
        limit: int | float | str | None,
        message: str,
        media_index: int | None = None,
    ) -> None:
        self.found.append(Violation(self.rules.platform, rule, actual, limit, message, media_index))

    # -- text -------------------------------------------------------------------------------

    def text(self) -> None:
        rules, name, text = self.rules, self.name, self.text_value
        has_media = bool(self.items)
        if not text.strip():
            if not has_media and not rules.media_required:
                self.add(Rule.TEXT_EMPTY, 0, 1, f"{name}: the post is empty; write some text or attach media")
            return
        where = " in the description" if rules.platform is Platform.YOUTUBE else ""
        limit = rules.text_limit(with_media=has_media)
        length = rules.count_text(text)
        if length > limit:
            unit = rules.text_counting.unit
            message = f"{name}: {length:,} of {limit:,} {unit}{where}"
            if limit != rules.max_text_length:
                message += (
                    f" (with an image or video the text is a caption, which may have {limit:,}; "
                    f"a text-only post may have {rules.max_text_length:,})"
                )
            self.add(Rule.TEXT_TOO_LONG, length, limit, message)
        if rules.max_text_bytes is not None:
            size = utf8_length(text)
            if size > rules.max_text_bytes:
                self.add(
                    Rule.TEXT_TOO_LONG,
                    size,
                    rules.max_text_bytes,
                    f"{name}: {size:,} of {rules.max_text_bytes:,} bytes (letters outside "
                    "basic Latin and emoji take several bytes each)",
                )
        self._forbidden(text, rules.forbidden_characters, "description" if where else "text")
        if rules.max_hashtags is not None:
            tags = len(extract_hashtags(text))
            if tags > rules.max_hashtags:
                self.add(
                    Rule.TOO_MANY_HASHTAGS,
                    tags,
                    rules.max_hashtags,
                    f"{name}: {tags} hashtags, at most {rules.max_hashtags}",
                )

    def _forbidden(self, text: str, forbidden: str, where: str) -> None:
        found = "".join(c for c in forbidden if c in text)
        if found:
            shown = " or ".join(found)
            self.add(
                Rule.FORBIDDEN_CHARACTERS, found, None, f"{self.name} does not allow {shown} in the {where}"
            )

    # -- title ------------------------------------------------------------------------------

    def title(self) -> None:
        rules, name, title = self.rules, self.name, self.title_value
        if not rules.has_title:
            return
        if title is None or not title.strip():
            if rules.title_required:
                self.add(Rule.TITLE_REQUIRED, 0, 1, f"{name} needs a title")
            return
        photo_post = bool(self.items) and not any(_kind(m) == "video" for m in self.items)
        limit = rules.max_title_length
        what = "in the title"
        if photo_post and rules.max_photo_post_title_length is not None:
            limit = rules.max_photo_post_title_length
            what = "in the title of a photo post"
        if limit is not None:
            length = count_text(rules.title_counting, title)
            if length > limit:
                self.add(
                    Rule.TITLE_TOO_LONG,
                    length,
                    limit,
                    f"{name}: {length:,} of {limit:,} {rules.title_counting.unit} {what}",
                )
        self._forbidden(title, rules.title_forbidden_characters, "title")

    # -- media ------------------------------------------------------------------------------

    def _label(self, index: int, kind: str) -> str:
        noun = _NOUN.get(kind, "attachment")
        return f"the {noun}" if len(self.items) == 1 else f"{noun} {index + 1}"

    def media(self) -> None:
        rules, name, items = self.rules, self.name, self.items
        if not items:
            if rules.media_required:
                self.add(Rule.MEDIA_REQUIRED, 0, max(rules.min_media, 1), f"{name} needs {_needs(rules)}")
            return
        kinds = [_kind(m) for m in items]
        for i, kind in enumerate(kinds):
            self._kind_allowed(i, kind, items[i])
        # Attachments the platform does not take at all are reported above, not counted again.
        self._counts([k for k in kinds if k in rules.allowed_media_kinds])
        for i, (item, kind) in enumerate(zip(items, kinds, strict=True)):
            self._size(i, kind, item)
            if kind == "video":
                self._duration(i, item)
            self._alt_text(i, kind, item)

    def _kind_allowed(self, i: int, kind: str, item: Media) -> None:
        rules, name = self.rules, self.name
        where = f" (attachment {i + 1})" if len(self.items) > 1 else ""
        if kind not in rules.allowed_media_kinds:
            if kind in _PLURAL:
                allowed = _or_list([_PLURAL[k] for k in _KIND_ORDER if k in rules.allowed_media_kinds])
                message = f"{name} does not accept {_PLURAL[kind]}{where}; it takes {allowed}"
            else:
                message = f"{name} does not accept attachments of type {kind!r}{where}"
            self.add(Rule.UNSUPPORTED_MEDIA, kind, ", ".join(sorted(rules.allowed_media_kinds)), message, i)
            return
        allowed_types = {"image": rules.image_mime_types, "video": rules.video_mime_types}.get(kind)
        mime = item.mime_type.strip().lower() if isinstance(item.mime_type, str) else ""
        if allowed_types and mime and mime not in allowed_types:
            shown = _or_list(sorted(t.split("/")[-1].upper() for t in allowed_types))
            self.add(
                Rule.UNSUPPORTED_MEDIA,
                mime,
                ", ".join(sorted(allowed_types)),
                f"{name} accepts only {shown} {_PLURAL[kind]}; {self._label(i, kind)} is {_printable(mime)}",
                i,
            )

    def _counts(self, kinds: list[str]) -> None:
        rules, name = self.rules, self.name
        present = Counter(kinds)
        for solo in _KIND_ORDER:
            if solo in rules.solo_media_kinds and present[solo] and len(present) > 1:
                self.add(
                    Rule.MIXED_MEDIA,
                    ", ".join(k for k in _KIND_ORDER if present[k]),
                    solo,
                    f"{name}: a {_NOUN[solo]} must be posted on its own, without other attachments",
                )
                break
        per_kind = False
        for kind, most in (("image", rules.max_images), ("video", rules.max_videos), ("gif", rules.max_gifs)):
            if most is not None and present[kind] > most:
                per_kind = True
                self.add(
                    Rule.TOO_MANY_MEDIA,
                    present[kind],
                    most,
                    f"{name}: {present[kind]} {_PLURAL[kind]}, at most {most}",
                )
        total = len(kinds)
        if not per_kind and rules.max_media is not None and total > rules.max_media:
            self.add(Rule.TOO_MANY_MEDIA, total, rules.max_media, f"{name}: {total} attachments, at most {rules.max_media}")

    def _size(self, i: int, kind: str, item: Media) -> None:
        rules = self.rules
        size = _number(item.size_bytes)
        if size is None:
            return
        limit = {
            "image": rules.max_image_bytes,
            "gif": rules.max_gif_bytes if rules.max_gif_bytes is not None else rules.max_image_bytes,
            "video": rules.max_video_bytes,
        }.get(kind)
        if limit is not None and size > limit:
            shown, shown_limit = _sizes(size, limit)
            self.add(
                Rule.MEDIA_TOO_LARGE,
                size,
                limit,
                f"{self.name}: {self._label(i, kind)} is {shown}, at most {shown_limit}",
                i,
            )

    def _duration(self, i: int, item: Media) -> None:
        rules = self.rules
        seconds = _number(item.duration_seconds)
        if seconds is None:
            return
        label = self._label(i, "video")
        if rules.max_video_seconds is not None and seconds > rules.max_video_seconds:
            shown, shown_limit = _durations(seconds, rules.max_video_seconds)
            self.add(
                Rule.VIDEO_TOO_LONG,
                seconds,
                rules.max_video_seconds,
                f"{self.name}: {label} is {shown} long, at most {shown_limit}",
                i,
            )
        if rules.min_video_seconds is not None and seconds < rules.min_video_seconds:
            shown, shown_limit = _durations(seconds, rules.min_video_seconds)
            self.add(
                Rule.VIDEO_TOO_SHORT,
                seconds,
                rules.min_video_seconds,
                f"{self.name}: {label} is {shown} long, at least {shown_limit}",
                i,
            )

    def _alt_text(self, i: int, kind: str, item: Media) -> None:
        most = self.rules.max_alt_text_length
        if most is None or not isinstance(item.alt_text, str):
            return
        length = len(item.alt_text)
        if length > most:
            self.add(
                Rule.ALT_TEXT_TOO_LONG,
                length,
                most,
                f"{self.name}: the description of {self._label(i, kind)} has {length:,} characters, at most {most:,}",
                i,
            )


def _kind(item: Media) -> str:
    kind = item.kind
    return kind.lower() if isinstance(kind, str) else repr(kind)


def _number(value: object) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _printable(value: str) -> str:
    return value if value.isprintable() and not any(c.isspace() for c in value) else repr(value)


def _or_list(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _needs(rules: PlatformRules) -> str:
    kinds = [k for k in _KIND_ORDER if k in rules.allowed_media_kinds]
    if rules.max_media == 1 and len(kinds) == 1:
        return f"a {_NOUN[kinds[0]]}"
    return "at least one " + _or_list([_NOUN[k] for k in kinds])


def _size_unit(limit: int | float) -> tuple[int, str]:
    step = 1024 if limit >= 1024 and int(limit) % 1024 == 0 else 1000
    for power, suffix in ((3, "GB"), (2, "MB"), (1, "KB")):
        if limit >= step**power:
            return step**power, suffix
    return 1, "bytes"


def _show_size(value: float, unit: tuple[int, str]) -> str:
    divisor, suffix = unit
    if divisor == 1 or not math.isfinite(value):
        return f"{value:,} bytes" if isinstance(value, int) else f"{value:,.0f} bytes"
    shown = f"{value / divisor:,.1f}".removesuffix(".0")
    return f"{shown} {suffix}"


def _sizes(size: float, limit: int | float) -> tuple[str, str]:
    unit = _size_unit(limit)
    shown, shown_limit = _show_size(size, unit), _show_size(limit, unit)
    if shown == shown_limit:
        return _show_size(size, (1, "bytes")), _show_size(limit, (1, "bytes"))
    return shown, shown_limit


def _show_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return f"{seconds} s"
    if seconds < 60:
        return f"{round(seconds, 1):g} s"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes:
        parts.append(f"{minutes} min")
    if secs:
        parts.append(f"{secs} s")
    return " ".join(parts)


def _durations(seconds: float, limit: float) -> tuple[str, str]:
    shown, shown_limit = _show_duration(seconds), _show_duration(limit)
    if shown == shown_limit:
        return f"{seconds:g} s", f"{limit:g} s"
    return shown, shown_limit

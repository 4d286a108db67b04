"""Mastodon's text rules: how a status is counted against the character limit
(StatusLengthValidator: every URL counts as 23 characters, ``@user@domain`` counts as ``@user``,
the content warning counts too, characters are grapheme clusters) and how the text becomes the
``content`` HTML (TextFormatter: escaped, linkified, paragraphs and line breaks)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

# URLs need a scheme (Mastodon extracts with extract_url_without_protocol: false) and a host
# with a dot or an IPv4 address; trailing punctuation is not part of the URL.
_URL_RE = re.compile(
    r"(?<![\w/@.])https?://(?:[\w-]+(?:\.[\w-]+)+|\d{1,3}(?:\.\d{1,3}){3})(?::\d{1,5})?(?:[/?#][^\s<>\"]*)?",
    re.IGNORECASE,
)
_MENTION_RE = re.compile(
    r"(?<![=/\w])@(([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@([\w.-]+\w))?)", re.IGNORECASE
)
_HASHTAG_RE = re.compile(r"(?<![=/)\w])#(\w*[^\W\d]\w*)")
_TRAILING = ".,:;!?'\""


@dataclass(frozen=True, slots=True)
class Entity:
    start: int
    end: int
    kind: str  # url | mention | hashtag
    value: str  # the URL, the acct (user or user@domain), the tag name
    username: str = ""
    domain: str | None = None


def _trim_url(url: str) -> str:
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last == ")" and url.count("(") < url.count(")"):
            url = url[:-1]
        else:
            break
    return url


def extract_entities(text: str) -> list[Entity]:
    """URLs, mentions and hashtags in order, without overlaps (URLs win)."""
    found: list[Entity] = []
    for m in _URL_RE.finditer(text):
        url = _trim_url(m.group(0))
        if "://" in url and len(url) > url.index("://") + 3:
            found.append(Entity(m.start(), m.start() + len(url), "url", url))
    for m in _MENTION_RE.finditer(text):
        found.append(
            Entity(
                m.start(), m.end(), "mention", m.group(1), username=m.group(2), domain=m.group(3)
            )
        )
    for m in _HASHTAG_RE.finditer(text):
        found.append(Entity(m.start(), m.end(), "hashtag", m.group(1)))
    found.sort(key=lambda e: (e.start, 0 if e.kind == "url" else 1))
    result: list[Entity] = []
    last_end = -1
    for entity in found:
        if entity.start >= last_end:
            result.append(entity)
            last_end = entity.end
    return result


def grapheme_length(text: str) -> int:
    """Number of user-perceived characters (an approximation of Unicode grapheme clusters good
    for combining marks, variation selectors, emoji modifiers, ZWJ sequences and flags)."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    count = 0
    joined = False  # the previous code point was a ZWJ
    regional_open = False
    previous = ""
    for ch in text:
        cp = ord(ch)
        if joined:
            joined = False
            previous = ch
            continue
        if cp == 0x200D:
            joined = True
            continue
        if (
            0xFE00 <= cp <= 0xFE0F
            or 0x1F3FB <= cp <= 0x1F3FF
            or 0xE0020 <= cp <= 0xE007F
            or (ch == "\n" and previous == "\r")
            or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        ):
            previous = ch
            continue
        if 0x1F1E6 <= cp <= 0x1F1FF:
            if regional_open:
                regional_open = False
                previous = ch
                continue
            regional_open = True
        else:
            regional_open = False
        count += 1
        previous = ch
    return count


def countable_length(text: str, spoiler_text: str = "", url_chars: int = 23) -> int:
    """The length Mastodon checks against ``max_characters``."""
    if not text:
        return grapheme_length(spoiler_text)
    parts: list[str] = []
    pos = 0
    for entity in extract_entities(text):
        if entity.kind == "hashtag":
            continue
        parts.append(text[pos : entity.start])
        if entity.kind == "url":
            parts.append("x" * url_chars)
        else:
            parts.append("@" + entity.username)
        pos = entity.end
    parts.append(text[pos:])
    return grapheme_length(spoiler_text + "".join(parts))


_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})


def escape(text: str) -> str:
    return text.translate(_ESCAPES)


def _link_html(url: str) -> str:
    match = re.match(r"(https?://(?:www\.)?)", url, re.IGNORECASE)
    prefix = match.group(1) if match else ""
    display = url[len(prefix) :]
    if len(display) > 30:
        shown = f'<span class="ellipsis">{escape(display[:30])}</span>'
        rest = f'<span class="invisible">{escape(display[30:])}</span>'
    else:
        shown = f'<span class="">{escape(display)}</span>'
        rest = '<span class="invisible"></span>'
    return (
        f'<a href="{escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{escape(prefix)}</span>{shown}{rest}</a>'
    )


def format_content(
    text: str,
    base_url: str,
    local_domain: str,
    mention_url: Callable[[str], str | None],
) -> tuple[str, list[str], list[str]]:
    """The ``content`` HTML, the usernames mentioned (local accounts only) and the hashtags.

    ``mention_url(username)`` returns the profile URL of a local account or None when no such
    account exists (Mastodon leaves unknown mentions as plain text)."""
    pieces: list[str] = []
    mentions: list[str] = []
    tags: list[str] = []
    pos = 0
    for entity in extract_entities(text):
        pieces.append(escape(text[pos : entity.start]))
        original = text[entity.start : entity.end]
        if entity.kind == "url":
            pieces.append(_link_html(entity.value))
        elif entity.kind == "hashtag":
            if entity.value.lower() not in (t.lower() for t in tags):
                tags.append(entity.value)
            pieces.append(
                f'<a href="{escape(base_url)}/tags/{escape(entity.value.lower())}" '
                f'class="mention hashtag" rel="tag">#<span>{escape(entity.value)}</span></a>'
            )
        else:
            local = entity.domain is None or entity.domain.lower() == local_domain.lower()
            url = mention_url(entity.username) if local else None
            if url is None:
                pieces.append(escape(original))
            else:
                if entity.username not in mentions:
                    mentions.append(entity.username)
                pieces.append(
                    f'<span class="h-card" translate="no"><a href="{escape(url)}" '
                    f'class="u-url mention">@<span>{escape(entity.username)}</span></a></span>'
                )
        pos = entity.end
    pieces.append(escape(text[pos:]))
    html = "".join(pieces)
    return _paragraphs(html), mentions, tags


def _paragraphs(html: str) -> str:
    """Rails' simple_format with the newlines removed afterwards, as Mastodon does."""
    html = html.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [p for p in re.split(r"\n\n+", html) if p != ""] or [""]
    out = []
    for paragraph in paragraphs:
        paragraph = re.sub(r"([^\n]\n)(?=[^\n])", r"\1<br />", paragraph)
        out.append(f"<p>{paragraph}</p>")
    return "".join(out).replace("\n", "")

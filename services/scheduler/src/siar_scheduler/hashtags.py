"""A campaign's hashtags added to a post, per platform: a tag the text already has (in any case)
is not repeated, and a tag is added only while the platform would still accept the post (its text
length, counted the platform's way, and its hashtag limit). What does not fit is left off."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from siar_platforms import Content, Rule, extract_hashtags, validate

# The rules that adding hashtags can break; other violations are the post's own.
_AFFECTED = {Rule.TEXT_TOO_LONG, Rule.TOO_MANY_HASHTAGS, Rule.FORBIDDEN_CHARACTERS}


def is_hashtag(tag: str) -> bool:
    """Whether ``tag`` (without '#') is one hashtag as the platforms read it."""
    return extract_hashtags("#" + tag) == [tag]


def _joined(text: str, tags: Sequence[str]) -> str:
    if not tags:
        return text
    line = " ".join("#" + t for t in tags)
    body = text.rstrip()
    return f"{body}\n\n{line}" if body else line


def with_hashtags(
    text: str,
    tags: Sequence[str],
    platform: str,
    content: Content,
    limits: Mapping[str, int] | None = None,
) -> str:
    """``text`` with the campaign's ``tags`` appended for ``platform``; ``content`` gives the
    media and title that are sent with it (its own text is ignored)."""
    present = {t.casefold() for t in extract_hashtags(text)}
    missing = []
    for tag in tags:
        if tag.casefold() not in present:
            present.add(tag.casefold())
            missing.append(tag)
    if not missing:
        return text

    def broken(candidate: str) -> set[tuple]:
        found = validate(platform, Content(candidate, content.media, content.title), limits=limits or None)
        return {(v.rule, v.media_index) for v in found if v.rule in _AFFECTED}

    already = broken(text)
    added: list[str] = []
    for tag in missing:
        if broken(_joined(text, [*added, tag])) <= already:
            added.append(tag)
    return _joined(text, added)

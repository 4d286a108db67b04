"""Telegram's text rules: ``parse_mode`` (HTML, MarkdownV2, Markdown) turned into plain text plus
MessageEntity objects, the entities Telegram finds by itself (URLs, mentions, hashtags, e-mail
addresses), and lengths in UTF-16 code units, which is how Telegram counts offsets and limits.

Parse errors carry TDLib's wording, e.g. ``Unsupported start tag "br" at byte offset 5`` or
``Character '.' is reserved and must be escaped with the preceding '\\'``; the Bot API prefixes
them with ``Bad Request: can't parse entities: ``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class EntityParseError(ValueError):
    pass


def utf16_len(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


@dataclass(slots=True)
class _Entity:
    start: int  # code points in the plain text
    end: int
    type: str
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- HTML

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY_RE = re.compile(r"&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,6});")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ATTR_RE = re.compile(r"""\s*([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")


def _unescape(value: str) -> str:
    def repl(m: re.Match[str]) -> str:
        body = m.group(1)
        if body[0] == "#":
            try:
                code = int(body[2:], 16) if body[1] in "xX" else int(body[1:])
                return chr(code)
            except (ValueError, OverflowError):
                return m.group(0)
        return _NAMED.get(body, m.group(0))

    return _HTML_ENTITY_RE.sub(repl, value)


def parse_html(text: str) -> tuple[str, list[_Entity]]:
    out: list[str] = []
    length = 0
    stack: list[tuple[str, int, str, dict[str, Any]]] = []  # tag, start, type, extra
    entities: list[_Entity] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "&":
            m = _HTML_ENTITY_RE.match(text, i)
            if m is not None:
                decoded = _unescape(m.group(0))
                out.append(decoded)
                length += len(decoded)
                i = m.end()
                continue
            out.append(ch)
            length += 1
            i += 1
            continue
        if ch != "<":
            out.append(ch)
            length += 1
            i += 1
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":
            close = text.find(">", i)
            if close < 0:
                raise EntityParseError(
                    f"Unclosed end tag at byte offset {_byte_offset(text, begin)}"
                )
            name = text[i + 2 : close].strip().lower()
            if not stack:
                raise EntityParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(text, begin)}"
                )
            tag, start, kind, extra = stack.pop()
            if name != tag:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{tag}>", found "</{name}>"'
                )
            i = close + 1
            if kind == "code" and stack and stack[-1][2] == "pre" and extra.get("language"):
                stack[-1][3]["language"] = extra["language"]
                continue
            if kind == "text_link" and not extra.get("url"):
                continue
            if kind == "code":
                extra.pop("language", None)
            if length > start:
                entities.append(_Entity(start, length, kind, extra))
            continue
        j = i + 1
        while j < n and (text[j].isalnum() or text[j] == "-"):
            j += 1
        name = text[i + 1 : j].lower()
        if not name:
            raise EntityParseError(
                f'Unsupported start tag "" at byte offset {_byte_offset(text, begin)}'
            )
        if name not in _HTML_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}'
            )
        close = j
        quote = ""
        while close < n:
            c = text[close]
            if quote:
                if c == quote:
                    quote = ""
            elif c in "\"'":
                quote = c
            elif c == ">":
                break
            close += 1
        if close >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        attrs: dict[str, str] = {}
        for m in _ATTR_RE.finditer(text[j:close].rstrip("/")):
            value = m.group(2) if m.group(2) is not None else m.group(3)
            if value is None:
                value = m.group(4) or ""
            attrs[m.group(1).lower()] = _unescape(value)
        kind = _HTML_TAGS[name]
        extra: dict[str, Any] = {}
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError('Tag "span" must have class "tg-spoiler"')
        if kind == "text_link":
            extra["url"] = attrs.get("href", "")
        elif kind == "code" and attrs.get("class", "").startswith("language-"):
            extra["language"] = attrs["class"][len("language-") :]
        elif kind == "blockquote" and "expandable" in attrs:
            kind = "expandable_blockquote"
        elif kind == "custom_emoji":
            extra["custom_emoji_id"] = attrs.get("emoji-id", "")
        stack.append((name, length, kind, extra))
        i = close + 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), entities


# --------------------------------------------------------------------------- MarkdownV2

_RESERVED_V2 = set("_*[]()~`>#+-=|{}.!")
_V2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
}


def parse_markdown_v2(text: str) -> tuple[str, list[_Entity]]:
    out: list[str] = []
    length = 0
    stack: list[tuple[str, int, int, dict[str, Any]]] = []  # type, start, byte offset, extra
    entities: list[_Entity] = []
    quote_start: int | None = None
    i = 0
    n = len(text)

    def reserved_error(c: str) -> EntityParseError:
        return EntityParseError(
            f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
        )

    while i < n:
        c = text[i]
        at_line_start = i == 0 or text[i - 1] == "\n"
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.append(text[i + 1])
            length += 1
            i += 2
            continue
        top = stack[-1][0] if stack else None
        if top in ("code", "pre"):
            reserved = "`"
        else:
            reserved = _RESERVED_V2
        if c not in reserved:
            if c == "\n" and quote_start is not None:
                if length > quote_start:
                    entities.append(_Entity(quote_start, length, "blockquote"))
                quote_start = None
            out.append(c)
            length += 1
            i += 1
            continue
        if c == ">" and at_line_start and top is None:
            if quote_start is None:
                quote_start = length
            i += 1
            continue
        ending = False
        if top is not None:
            if top == "bold":
                ending = c == "*"
            elif top == "italic":
                ending = c == "_" and not (i + 1 < n and text[i + 1] == "_")
            elif top == "underline":
                ending = c == "_" and i + 1 < n and text[i + 1] == "_"
            elif top == "strikethrough":
                ending = c == "~"
            elif top == "spoiler":
                ending = c == "|" and i + 1 < n and text[i + 1] == "|"
            elif top == "code":
                ending = c == "`"
            elif top == "pre":
                ending = text.startswith("```", i)
            elif top == "text_link":
                ending = c == "]"
        if not ending:
            byte = _byte_offset(text, i)
            extra: dict[str, Any] = {}
            if c == "*":
                kind = "bold"
            elif c == "_":
                if i + 1 < n and text[i + 1] == "_":
                    kind = "underline"
                    i += 1
                else:
                    kind = "italic"
            elif c == "~":
                kind = "strikethrough"
            elif c == "|":
                if i + 1 < n and text[i + 1] == "|":
                    kind = "spoiler"
                    i += 1
                else:
                    raise reserved_error(c)
            elif c == "[":
                kind = "text_link"
            elif c == "`":
                if text.startswith("```", i):
                    kind = "pre"
                    i += 3
                    newline = text.find("\n", i)
                    if newline >= 0:
                        language = text[i:newline]
                        if language and not any(ch.isspace() for ch in language):
                            extra["language"] = language
                        if language == "" or "language" in extra:
                            i = newline + 1
                    stack.append((kind, length, byte, extra))
                    continue
                kind = "code"
            else:
                raise reserved_error(c)
            stack.append((kind, length, byte, extra))
            i += 1
            continue
        kind, start, _, extra = stack.pop()
        if kind in ("underline", "spoiler"):
            i += 2
        elif kind == "pre":
            i += 3
        elif kind == "text_link":
            i += 1
            url = ""
            if i < n and text[i] == "(":
                j = i + 1
                chars: list[str] = []
                while j < n and text[j] != ")":
                    if text[j] == "\\" and j + 1 < n:
                        j += 1
                    chars.append(text[j])
                    j += 1
                if j >= n:
                    raise EntityParseError(
                        f"Can't find end of a URL at byte offset {_byte_offset(text, i)}"
                    )
                url = "".join(chars)
                i = j + 1
            else:
                url = "".join(out[start:length])
            if length > start and url:
                entities.append(_Entity(start, length, "text_link", {"url": url}))
            continue
        else:
            i += 1
        if length > start:
            entities.append(_Entity(start, length, kind, extra))
    if stack:
        kind, _, byte, _ = stack[-1]
        raise EntityParseError(f"Can't find end of {_V2_NAMES[kind]} entity at byte offset {byte}")
    if quote_start is not None and length > quote_start:
        entities.append(_Entity(quote_start, length, "blockquote"))
    return "".join(out), entities


# --------------------------------------------------------------------------- legacy Markdown


def parse_markdown(text: str) -> tuple[str, list[_Entity]]:
    out: list[str] = []
    entities: list[_Entity] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            i += 1
            continue
        byte = _byte_offset(text, i)
        start = len(out)
        if c == "[":
            close = text.find("]", i + 1)
            if close < 0:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {byte}"
                )
            label = text[i + 1 : close]
            url = ""
            i = close + 1
            if i < n and text[i] == "(":
                end = text.find(")", i)
                if end < 0:
                    raise EntityParseError(
                        f"Can't find end of the entity starting at byte offset {byte}"
                    )
                url = text[i + 1 : end]
                i = end + 1
            out.extend(label)
            if label and url:
                entities.append(_Entity(start, len(out), "text_link", {"url": url}))
            continue
        if c == "`" and text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {byte}"
                )
            body = text[i + 3 : end]
            extra: dict[str, Any] = {}
            newline = body.find("\n")
            if newline > 0 and " " not in body[:newline]:
                extra["language"] = body[:newline]
                body = body[newline + 1 :]
            out.extend(body)
            if body:
                entities.append(_Entity(start, len(out), "pre", extra))
            i = end + 3
            continue
        end = text.find(c, i + 1)
        if end < 0:
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {byte}")
        body = text[i + 1 : end]
        out.extend(body)
        if body:
            kind = {"_": "italic", "*": "bold", "`": "code"}[c]
            entities.append(_Entity(start, len(out), kind))
        i = end + 1
    return "".join(out), entities


# --------------------------------------------------------------------------- found entities

_TLDS = "com|org|net|id|io|co|info|edu|gov|me|app|dev|ly|be|to|tv|us|uk|de|nl|sg|my|au|jp|xyz"
_FOUND_RE = re.compile(
    r"(?P<email>\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b)"
    r"|(?P<url>(?<![\w@/.])(?:(?:https?|tg|ftp)://[^\s<>\"]+|(?:www\.)?(?:[a-z0-9-]+\.)+(?:"
    + _TLDS
    + r")\b(?:/[^\s<>\"]*)?))"
    r"|(?P<mention>(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}\b)"
    r"|(?P<hashtag>(?<![\w#])#\w*[^\W\d]\w*)"
    r"|(?P<cashtag>(?<![\w$])\$[A-Z]{3,8}\b)",
    re.IGNORECASE,
)


def found_entities(text: str, taken: list[_Entity]) -> list[_Entity]:
    """Entities Telegram detects by itself, outside code, pre and text links."""
    if not any(ch in text for ch in "@#.$:"):
        return []
    blocked = [(e.start, e.end) for e in taken if e.type in ("code", "pre", "text_link")]
    result = []
    for m in _FOUND_RE.finditer(text):
        kind = m.lastgroup or "url"
        start, end = m.start(), m.end()
        if kind == "url":
            while end > start and text[end - 1] in ".,:;!?'\")":
                if text[end - 1] == ")" and text[start:end].count("(") >= text[start:end].count(
                    ")"
                ):
                    break
                end -= 1
        if kind == "cashtag" and not m.group(0)[1:].isupper():
            continue
        if any(s < end and start < e for s, e in blocked):
            continue
        result.append(_Entity(start, end, kind))
    return result


# --------------------------------------------------------------------------- public API

PARSE_MODES = {"html": parse_html, "markdownv2": parse_markdown_v2, "markdown": parse_markdown}


def format_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and MessageEntity dicts (UTF-16 offsets) as Telegram would deliver them.

    Raises EntityParseError for text the parse mode cannot read and KeyError for an unknown
    parse mode."""
    if parse_mode:
        plain, entities = PARSE_MODES[parse_mode.lower()](text)
    else:
        plain, entities = text, []
    # Telegram trims leading and trailing whitespace and moves the entities with the text.
    stripped = plain.strip()
    if stripped != plain:
        shift = len(plain) - len(plain.lstrip())
        limit = len(stripped)
        moved = []
        for e in entities:
            start, end = max(0, e.start - shift), min(limit, e.end - shift)
            if end > start:
                moved.append(_Entity(start, end, e.type, e.extra))
        plain, entities = stripped, moved
    entities = entities + found_entities(plain, entities)
    if not entities:
        return plain, []
    entities.sort(key=lambda e: (e.start, -(e.end - e.start)))
    ascii_only = plain.isascii()
    result = []
    for e in entities:
        if ascii_only:
            offset, size = e.start, e.end - e.start
        else:
            offset = utf16_len(plain[: e.start])
            size = utf16_len(plain[e.start : e.end])
        item: dict[str, Any] = {"offset": offset, "length": size, "type": e.type}
        item.update(e.extra)
        result.append(item)
    return plain, result

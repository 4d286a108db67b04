"""How each platform measures a text, and the entities (URLs, hashtags, emoji) it finds in one.

Every function here is pure and total: it accepts any ``str`` (including lone surrogates from
badly decoded JSON) and never raises. Lengths are never negative, and appending text to a string
never makes any of them shorter.

Sources are named per function; "platforms.md" is Siar's ``shared/platforms.md``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import regex

__all__ = [
    "code_point_length",
    "extract_hashtags",
    "extract_urls",
    "grapheme_length",
    "mastodon_length",
    "threads_length",
    "url_spans",
    "utf8_length",
    "utf16_length",
    "x_weighted_length",
]

# --------------------------------------------------------------------------------------------
# Emoji
#
# One emoji is what a person sees as one picture: a pictographic character with an optional skin
# tone or emoji-presentation selector, several of those joined by ZERO WIDTH JOINER (families,
# professions, the rainbow flag), a pair of regional indicators (a country flag), a keycap
# (1️⃣, #️⃣) or a tag sequence (🏴󠁧󠁢󠁳󠁣󠁴󠁿). This follows twitter/twemoji-parser's regex, which twitter-text v3 uses,
# but is built from Unicode properties so that emoji newer than that regex are recognised too.
# As in twemoji-parser: © and ® are emoji only with U+FE0F, and a pictograph followed by the text
# presentation selector U+FE0E is not an emoji.
def _emoji_regex(*, text_presentation_is_emoji: bool) -> regex.Pattern[str]:
    pictograph = (
        r"(?![\u00A9\u00AE](?!\uFE0F))\p{Extended_Pictographic}"
        + (r"(?:\p{Emoji_Modifier}\uFE0F?|\uFE0F|\uFE0E)?" if text_presentation_is_emoji
           else r"(?:\p{Emoji_Modifier}\uFE0F?|\uFE0F)?(?!\uFE0E)")
    )
    return regex.compile(
        r"\U0001F3F4[\U000E0020-\U000E007E]+\U000E007F"  # subdivision flag (tag sequence)
        r"|[#*0-9]\uFE0F?\u20E3"  # keycap
        r"|\p{Regional_Indicator}{2}"  # country flag
        rf"|{pictograph}(?:\u200D{pictograph})*"  # pictograph, modifier sequence, ZWJ sequence
    )


# twemoji-parser's reading, for X.
_EMOJI_RE = _emoji_regex(text_presentation_is_emoji=False)
# For Threads, which only says "emoji": a pictograph with U+FE0E counts as an emoji too (the
# higher count), which also keeps the length from shrinking when text is appended.
_EMOJI_WIDE_RE = _emoji_regex(text_presentation_is_emoji=True)


def _emoji_spans(
    text: str, start: int = 0, end: int | None = None, *, pattern: regex.Pattern[str] = _EMOJI_RE
) -> Iterator[tuple[int, int]]:
    for m in pattern.finditer(text, start, len(text) if end is None else end):
        yield m.span()


# --------------------------------------------------------------------------------------------
# URLs
#
# Modelled on twitter-text's extractUrlsWithIndices (twitter/twitter-text, js/src/extractUrlsWithIndices.js
# and regexp/*): http(s) URLs with any host that has a top-level domain, an IPv4 address or an
# IPv6 literal; URLs without a scheme only for ASCII domains ending in a known TLD; trailing
# punctuation is not part of a URL; a domain label is at most 63 characters.

# Country-code TLDs (IANA root zone, two letters) and the generic TLDs people actually write
# without "https://". A rarer generic TLD is still a URL when written with its scheme.
_CC_TLDS = (
    "ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo bq br bs"
    " bt bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee"
    " eg er es et eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk"
    " hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la"
    " lb lc li lk lr ls lt lu lv ly ma mc md me mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my"
    " mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro"
    " rs ru rw sa sb sc sd se sg sh si sk sl sm sn so sr ss st su sv sx sy sz tc td tf tg th tj tk"
    " tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw"
).split()
_GENERIC_TLDS = (
    "com net org edu gov mil int info biz name pro mobi aero asia cat coop jobs museum post tel"
    " travel xxx app dev page blog shop store online site website web tech xyz club news live life"
    " world today space art design digital email link cloud global media network one studio team"
    " top wiki work zone guide foundation community education academy school university college"
    " library books book photo photography photos gallery center city social church help"
    " support care health green events agency company services solutions systems consulting"
    " africa berlin london nyc paris tokyo amsterdam wien bayern quebec scot wales eus cymru"
    " google youtube microsoft apple amazon"
).split()
_SPECIAL_SHORT_CC_TLDS = ("co", "tv")  # twitter-text: "t.co" and "x.tv" are URLs even without a path

_TLDS = sorted(set(_CC_TLDS) | set(_GENERIC_TLDS), key=lambda t: (-len(t), t))
_TLD_ALT = "|".join(_TLDS)

# A character of a domain label: not punctuation, space, control or format, nor an ASCII symbol
# (twitter-text's validDomainChars), so "http://☃.net" is a URL.
_DOMAIN_CHAR = r"[^\p{P}\p{Z}\p{C}\x00-\x2F\x3A-\x40\x5B-\x60\x7B-\x7F]"
_LABEL = rf"{_DOMAIN_CHAR}(?:(?:{_DOMAIN_CHAR}|[_-])*{_DOMAIN_CHAR})?"
_ASCII_LABEL = r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?"
# Characters of a path or query: twitter-text's valid_general_url_path_chars and
# valid_url_query_chars (Latin letters and accents, Cyrillic, digits, and URL punctuation).
# Other scripts end a URL, so "http://example.com/これは" is "http://example.com/".
_PATH_CHAR = r"[\p{Latin}\p{Cyrillic}\p{Greek}\p{Nd}\p{M}!*';:=+,.$/%#\[\]\-\u2013_~&|@()?]"

# The labels before the TLD are matched possessively (a dot counts only if a label follows), so
# "a.a.a.…" without a TLD fails at once instead of backtracking through every label.
_URL_WITH_SCHEME_RE = regex.compile(
    r"(?<![A-Za-z0-9@$#\uFF20\uFF03])"
    r"(?P<url>https?://"
    r"(?:[\w.~%!$&'*+,;=:-]+@)?"  # userinfo
    rf"(?P<host>(?:{_LABEL}\.(?={_DOMAIN_CHAR}))++(?:xn--[a-z0-9-]+|[\p{{L}}\p{{M}}]{{2,}})(?!{_DOMAIN_CHAR}|[_-])"
    r"|\d{1,3}(?:\.\d{1,3}){3}(?![\d])"
    r"|\[[0-9a-f:.]+\])"
    r"(?::\d{1,5})?"
    rf"(?:[/?#]{_PATH_CHAR}*)?)",
    regex.IGNORECASE,
)
_URL_WITHOUT_SCHEME_RE = regex.compile(
    r"(?<![\p{L}\p{M}\p{N}@$#\uFF20\uFF03_./-])"
    r"(?P<url>"
    rf"(?P<host>(?:{_ASCII_LABEL}\.(?=[a-z0-9]))++(?:{_TLD_ALT}|xn--[a-z0-9-]+))(?![a-z0-9_@-]|\.[a-z0-9])"
    r"(?::\d{1,5})?"
    rf"(?P<path>[/?]{_PATH_CHAR}*)?)",
    regex.IGNORECASE,
)
# A URL may end in these characters; anything else at the end (".", ",", "!", "?", ":", quotes,
# unbalanced brackets) is punctuation of the sentence (twitter-text valid_url_path_ending_chars).
_URL_END_RE = regex.compile(r"[\p{Latin}\p{Cyrillic}\p{Greek}\p{Nd}\p{M}=_#/+\-&|@]")


def _trim_url_end(url: str, min_length: int) -> str:
    while len(url) > min_length:
        last = url[-1]
        if _URL_END_RE.fullmatch(last):
            break
        if last == ")" and url.count("(") >= url.count(")"):
            break
        if last == "]" and url.count("[") >= url.count("]"):
            break
        url = url[:-1]
    return url


def _host_ok(host: str) -> bool:
    if host.startswith("["):
        return True
    parts = host.split(".")
    if all(p.isdigit() for p in parts):
        return len(parts) == 4 and all(int(p) <= 255 for p in parts)
    for label in parts:
        # A label becomes at most 63 characters of punycode; an ASCII one is that long already.
        if len(label) > 63:
            return False
        if not label.isascii():
            try:
                encoded = len(label.encode("punycode")) + 4  # "xn--" + punycode
            except (UnicodeError, ValueError):
                return False
            if encoded > 63:
                return False
    return True


def _url_spans(text: str, *, require_scheme: bool = False) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for m in _URL_WITH_SCHEME_RE.finditer(text):
        if not _host_ok(m.group("host")):
            continue
        start = m.start("url")
        head = m.end("host") - start
        url = _trim_url_end(m.group("url"), head)
        spans.append((start, start + len(url)))
    if not require_scheme:
        for m in _URL_WITHOUT_SCHEME_RE.finditer(text):
            start = m.start("url")
            if any(s <= start < e for s, e in spans):
                continue
            host = m.group("host")
            if not _host_ok(host):
                continue
            tld = host.rsplit(".", 1)[-1].lower()
            has_path = m.group("path") is not None
            # twitter-text: "name.cc" (one label, ccTLD, no path) is not a URL, except .co/.tv.
            if not has_path and host.count(".") == 1 and len(tld) == 2 and tld not in _SPECIAL_SHORT_CC_TLDS:
                continue
            head = m.end("host") - start
            url = _trim_url_end(m.group("url"), head)
            spans.append((start, start + len(url)))
        spans.sort()
    return spans


def url_spans(text: str) -> list[tuple[int, int]]:
    """Where the URLs of :func:`extract_urls` are in ``text``: ``(start, end)`` code-point
    offsets, in order, not overlapping (for a caller that replaces them, as X does with t.co
    links)."""
    return _url_spans(text)


def extract_urls(text: str) -> list[str]:
    """The URLs in ``text``, in order, as X finds them (twitter-text's URL extraction):
    ``http``/``https`` URLs, and bare domains such as ``perpusnas.go.id/koleksi`` or
    ``example.com`` whose top-level domain is a known one. Trailing sentence punctuation is not
    part of a URL. Bare ``name.cc`` domains (a country-code TLD, one label, no path) are not URLs,
    as in twitter-text."""
    return [text[s:e] for s, e in _url_spans(text)]


# --------------------------------------------------------------------------------------------
# Hashtags

_HASHTAG_BODY = r"[\p{L}\p{Nd}_][\p{L}\p{M}\p{Nd}_\u200C\u200D]*+"
_HASHTAG_RE = regex.compile(
    r"(?:(?<=^)|(?<=[\uFE0E\uFE0F])|(?<![\p{L}\p{M}\p{Nd}_&]))"
    rf"[#\uFF03](?P<tag>{_HASHTAG_BODY})"
    r"(?![#\uFF03]|://)",
)


def extract_hashtags(text: str) -> list[str]:
    """The hashtags in ``text``, in order, without the ``#``, every occurrence (duplicates kept).

    As platforms parse them (twitter-text's extractHashtags, which Instagram, Threads and
    Mastodon resemble): a ``#`` (or full-width ``＃``) at the start or after a character that is
    not a letter, digit, mark, ``_`` or ``&``; then letters (any script, with their combining
    marks), digits and ``_``; not digits only (``#2024`` is not a hashtag, ``#1st`` is). A tag
    followed directly by ``#`` or ``://`` is not one, and a ``#`` inside a URL
    (``https://example.com/#section``) is not one."""
    urls = _url_spans(text)
    tags: list[str] = []
    for m in _HASHTAG_RE.finditer(text):
        tag = m.group("tag")
        if all(c.isdecimal() or c in "\u200c\u200d" or unicodedata.category(c).startswith("M") for c in tag):
            continue
        if any(s <= m.start() < e for s, e in urls):
            continue
        tags.append(tag)
    return tags


# --------------------------------------------------------------------------------------------
# Lengths

# twitter-text config/v3.json: scale 100, defaultWeight 200, transformedURLLength 23,
# emojiParsingEnabled true, and these ranges weigh 100 (count 1): Latin-1 through Hangul Jamo,
# general-punctuation spaces, dashes and quotes, primes.
_X_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_X_SCALE = 100
_X_DEFAULT_WEIGHT = 200
_X_LIGHT_WEIGHT = 100


def _x_char_weight(cp: int) -> int:
    for lo, hi in _X_LIGHT_RANGES:
        if lo <= cp <= hi:
            return _X_LIGHT_WEIGHT
    return _X_DEFAULT_WEIGHT


def _x_plain_weight(text: str, start: int, end: int) -> int:
    weight = 0
    pos = start
    for es, ee in _emoji_spans(text, start, end):
        weight += sum(_x_char_weight(ord(c)) for c in text[pos:es]) + _X_DEFAULT_WEIGHT
        pos = ee
    return weight + sum(_x_char_weight(ord(c)) for c in text[pos:end])


def x_weighted_length(text: str, *, url_length: int = 23) -> int:
    """The length X checks against 280: twitter-text v3 ``parseTweet(text).weightedLength``.

    Source: twitter/twitter-text ``config/v3.json`` and ``config/README.md`` (platforms.md, X):
    the text is NFC-normalised; code points U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F and
    U+2032–U+2037 count 1, every other code point counts 2 (CJK, astral characters); every URL
    counts ``url_length`` (23) whatever its length; every emoji counts 2, including sequences
    shown as one picture (skin tones, ZWJ families, flags, keycaps). Checked against the
    conformance cases in twitter-text ``conformance/validate.yml`` (WeightedTweetsWithDiscountedEmojiCounterTest)."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    pos = 0
    for start, end in _url_spans(text):
        total += _x_plain_weight(text, pos, start) + url_length * _X_SCALE
        pos = end
    total += _x_plain_weight(text, pos, len(text))
    return total // _X_SCALE


_GRAPHEME_RE = regex.compile(r"\X")
_REGIONAL_PAIR_RE = regex.compile(r"\p{Regional_Indicator}{2}")


def grapheme_length(text: str) -> int:
    """User-perceived characters: Unicode extended grapheme clusters (UAX #29, via ``regex``
    ``\\X``). ``e`` + combining acute is 1, a ZWJ family or a flag is 1.

    Source: Bluesky's post record (ATP ``lexicons/app/bsky/feed/post.json``: text
    ``maxGraphemes: 300``, ``maxLength: 3000`` bytes); Mastodon counts graphemes too."""
    # Each flag (a pair of regional indicators, paired from the start of a run) becomes one
    # letter first: the same clusters, and ``regex`` segments long runs of them in quadratic time.
    text = _REGIONAL_PAIR_RE.sub("F", text)
    return sum(1 for _ in _GRAPHEME_RE.finditer(text))


# Mastodon's Account::MENTION_RE: @user or @user@domain, not after "=", "/" or a word character.
_MASTODON_MENTION_RE = regex.compile(
    r"(?<![=/\w])@(?P<user>[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@[\w]+(?:[.-]+[\w]+)*)?",
    regex.IGNORECASE,
)


def mastodon_length(text: str, characters_reserved_per_url: int = 23) -> int:
    """The length Mastodon checks against the instance's ``max_characters`` (default 500).

    Source: mastodon/mastodon ``app/validators/status_length_validator.rb`` (platforms.md,
    Mastodon; the instance reports ``configuration.statuses.characters_reserved_per_url``):
    every ``http(s)`` URL counts ``characters_reserved_per_url`` characters, whatever its length
    (URLs need a scheme: Mastodon does not link bare domains); a remote mention ``@user@domain``
    counts as ``@user``; the rest is counted in grapheme clusters. Mastodon also counts the content
    warning, which Siar does not send."""
    parts: list[str] = []
    pos = 0
    for start, end in _url_spans(text, require_scheme=True):
        parts.append(_MASTODON_MENTION_RE.sub(lambda m: "@" + m.group("user"), text[pos:start]))
        parts.append("x" * max(characters_reserved_per_url, 0))
        pos = end
    parts.append(_MASTODON_MENTION_RE.sub(lambda m: "@" + m.group("user"), text[pos:]))
    return grapheme_length("".join(parts))


def threads_length(text: str) -> int:
    """The length Threads checks against 500: one per code point, except that each emoji counts
    as many as its UTF-8 bytes (😀 is 4, ❤️ is 6, a ZWJ family of four is 25).

    Source: developers.facebook.com/documentation/threads/posts ("Emojis are counted as the
    number of UTF-8 bytes"; platforms.md, Threads). Threads does not say how it counts other
    characters; one per code point is assumed."""
    total = 0
    pos = 0
    for start, end in _emoji_spans(text, pattern=_EMOJI_WIDE_RE):
        total += (start - pos) + utf8_length(text[start:end])
        pos = end
    return total + (len(text) - pos)


def utf16_length(text: str) -> int:
    """UTF-16 code units: 1 per BMP character, 2 per astral one (😀 is 2). Telegram counts
    message and caption lengths this way (the Bot API's offsets and limits are UTF-16 based),
    and TikTok's title limit is "2,200 UTF-16 runes" (docs.workato.com TikTok; platforms.md)."""
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


def utf8_length(text: str) -> int:
    """UTF-8 bytes. YouTube's video description is limited to 5,000 bytes
    (developers.google.com/youtube/v3/docs/videos: snippet.description; platforms.md); Bluesky's
    post text to 3,000 bytes (lexicon ``maxLength``)."""
    return len(text.encode("utf-8", errors="surrogatepass"))


def code_point_length(text: str) -> int:
    """Unicode code points, Python's ``len``: Instagram's 2,200-character caption, LinkedIn's
    3,000-character commentary, Facebook's 63,206-character message and YouTube's 100-character
    title (platforms.md). None of these platforms documents a finer rule."""
    return len(text)

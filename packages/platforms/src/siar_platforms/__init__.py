"""What each platform accepts: the one place in Siar that knows every platform's limits.

The scheduler calls :func:`validate` to refuse a post before anything is stored, and the
publisher calls it again before sending. :func:`rules_for` exposes the same rules as data (for
docs and the API), and the counting functions measure a text the way each platform does.
"""

from .model import Content, Media, MediaKind, Platform, Rule, Violation
from .rules import LIMIT_ALIASES, RULES, PlatformRules, TextCounting, count_text, rules_for
from .text import (
    code_point_length,
    extract_hashtags,
    extract_urls,
    grapheme_length,
    mastodon_length,
    threads_length,
    url_spans,
    utf8_length,
    utf16_length,
    x_weighted_length,
)
from .validate import validate

__all__ = [
    "LIMIT_ALIASES",
    "RULES",
    "Content",
    "Media",
    "MediaKind",
    "Platform",
    "PlatformRules",
    "Rule",
    "TextCounting",
    "Violation",
    "code_point_length",
    "count_text",
    "extract_hashtags",
    "extract_urls",
    "grapheme_length",
    "mastodon_length",
    "rules_for",
    "threads_length",
    "url_spans",
    "utf8_length",
    "utf16_length",
    "validate",
    "x_weighted_length",
]

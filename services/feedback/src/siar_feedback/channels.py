"""Where a survey link is shared. The set is fixed, so a response's channel is a bounded value
(and a safe Prometheus label): anything else a link carries counts as ``other``."""

from __future__ import annotations

from typing import Literal, get_args

Channel = Literal[
    "instagram", "facebook", "x", "threads", "tiktok", "youtube", "mastodon", "bluesky",
    "telegram", "whatsapp", "website", "email", "newsletter", "sms", "poster", "flyer", "qr",
    "kiosk", "event",
]
CHANNELS: tuple[str, ...] = get_args(Channel)

DIRECT = "direct"
"""A response through the plain link, with no channel named."""
OTHER = "other"
"""A channel Siar does not know (a link someone edited, a new platform)."""

KNOWN: frozenset[str] = frozenset(CHANNELS) | {DIRECT, OTHER}


def clamp(value: str | None) -> str:
    """The channel a response is counted under: a known one, ``direct`` or ``other``."""
    if value is None or not value.strip():
        return DIRECT
    value = value.strip().lower()
    return value if value in KNOWN else OTHER

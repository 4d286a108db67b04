"""Engagement and audiences that grow with time, the same in every run, so tests can predict them.

A count is ``floor(rate × √seconds)`` since the post was published (or since the sandbox first
saw the account or channel), where ``rate`` depends only on the kind of count and the id::

    rate(kind, key) = BASE[kind] × (0.5 + stable_number(kind + ":" + key, 1000) / 1000)

So a Mastodon status has 0 favourites when it is created, about 2 × √3600 ≈ 120 an hour later and
about 2 × √86400 ≈ 590 a day later (±50 % by id); counts never go down. Audiences start from the
number the sandbox always gave the account (Mastodon ``followers_count``, Telegram's member
count) and grow the same way."""

from __future__ import annotations

import math

from .store import stable_number

BASE = {
    "favourites": 2.0,  # Mastodon favourites_count
    "reblogs": 0.6,     # Mastodon reblogs_count
    "replies": 0.3,     # Mastodon replies_count (added to real replies)
    "followers": 1.0,   # Mastodon followers_count
    "members": 1.0,     # Telegram getChatMemberCount
}


def rate(kind: str, key: str) -> float:
    return BASE[kind] * (0.5 + stable_number(f"{kind}:{key}", 1000) / 1000)


def grown(kind: str, key: str, elapsed_seconds: float) -> int:
    """How much a count of ``kind`` for ``key`` has grown ``elapsed_seconds`` after its start."""
    return int(rate(kind, key) * math.sqrt(max(0.0, elapsed_seconds)))

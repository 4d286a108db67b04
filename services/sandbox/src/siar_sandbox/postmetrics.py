"""Post metrics that grow with the time since publication, the same in every process (used by
the Facebook, Instagram, Threads and LinkedIn imitations).

Each metric of a post reaches a peak drawn from the post id and the metric name, along
``peak * (1 - exp(-age / TAU))``: nothing at publication, about 15 % after an hour, 63 % after
``TAU`` (six hours), nearly all of it after a day. Tests predict a value with :func:`grown`
(and move the sandbox clock with ``PUT /_sandbox/clock`` instead of waiting)."""

from __future__ import annotations

import math

from .store import stable_number

TAU = 6 * 3600.0


def peak(post_id: str, metric: str, low: int, high: int) -> int:
    """The value ``metric`` of ``post_id`` tends to: between ``low`` and ``high``."""
    return low + stable_number(f"{post_id}:{metric}", high - low + 1)


def grown(post_id: str, metric: str, age_seconds: float, low: int, high: int) -> int:
    """The value of ``metric`` for ``post_id`` ``age_seconds`` after publication."""
    if age_seconds <= 0:
        return 0
    return int(peak(post_id, metric, low, high) * (1.0 - math.exp(-age_seconds / TAU)))


def followers(account: str, low: int, high: int, posts: int) -> int:
    """An account's followers: a base drawn from its id, plus two for every post it published."""
    return low + stable_number(f"followers:{account}", high - low + 1) + 2 * posts

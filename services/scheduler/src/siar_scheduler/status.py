"""A post's overall status, derived from its targets' statuses (never stored twice)."""

from __future__ import annotations

from collections.abc import Iterable


def post_status(target_statuses: Iterable[str]) -> str:
    statuses = set(target_statuses)
    if not statuses or statuses == {"cancelled"}:
        return "cancelled"
    live = statuses - {"cancelled"}
    if live == {"scheduled"}:
        return "scheduled"
    if live & {"scheduled", "due", "retrying"}:
        return "publishing"
    if live == {"published"}:
        return "published"
    if live == {"failed"}:
        return "failed"
    return "partially_published"

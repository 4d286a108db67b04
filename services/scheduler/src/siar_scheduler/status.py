"""A post's overall status, derived from its targets' statuses (never stored twice)."""

from __future__ import annotations

from collections.abc import Iterable


def post_status(target_statuses: Iterable[str], review_state: str = "approved") -> str:
    """A post waiting for review shows its review state (draft, in_review) until a target moves."""
    statuses = set(target_statuses)
    if not statuses or statuses == {"cancelled"}:
        return "cancelled"
    live = statuses - {"cancelled"}
    if live == {"scheduled"}:
        return "scheduled" if review_state == "approved" else review_state
    if live & {"scheduled", "due", "retrying"}:
        return "publishing"
    if live == {"published"}:
        return "published"
    if live == {"failed"}:
        return "failed"
    return "partially_published"

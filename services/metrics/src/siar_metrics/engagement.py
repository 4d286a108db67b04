"""Engagement rate, defined once (docs/metrics.md) and used by every sample, event, report and gauge.

For one post at one moment::

    interactions = likes + comments + shares + saves      (a metric the platform lacks counts 0)
    denominator  = reach, if the platform reports it and it is above 0;
                   else views, likewise;
                   else the account's followers at that moment (its latest audience reading);
                   else there is no rate
    rate         = interactions / denominator, with the basis (reach, views or followers) stated

Clicks are left out: few platforms report them, and rates stay comparable across platforms.

For several posts (an account, a platform, a campaign, a hashtag, an hour of the week) the rate is
the sum of their interactions over the sum of their denominators, counting only posts that have a
denominator — each post's latest sample, weighted by its audience, never an average of ratios.
That aggregate is :data:`AGGREGATE_SQL`, the one SQL expression every report uses over the
``interactions`` and ``denominator`` stored with each reading.

Each reading's interactions, denominator and basis are computed where the reading is stored, in
SQL (:data:`INTERACTIONS_SQL`, :data:`DENOMINATOR_SQL`, :data:`BASIS_SQL`, used by
siar_metrics.store): in Python, for every answer, they were most of the ingest's Python time.
:func:`rate` is the same definition for code outside SQL; test_ingest checks on the real database
that the two agree (400 random answers over every platform)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Basis = Literal["reach", "views", "followers"]
INTERACTIONS = ("likes", "comments", "shares", "saves")


@dataclass(frozen=True, slots=True)
class Rate:
    interactions: float
    denominator: float | None
    basis: Basis | None

    @property
    def value(self) -> float | None:
        return None if self.denominator is None else self.interactions / self.denominator


def rate(metrics: Mapping[str, float], followers: float | None = None) -> Rate:
    """The engagement of one post's sample (normalised metrics) with the account's followers then."""
    interactions = float(sum(metrics.get(name, 0) for name in INTERACTIONS))
    for basis, value in (("reach", metrics.get("reach")), ("views", metrics.get("views")), ("followers", followers)):
        if value is not None and value > 0:
            return Rate(interactions, float(value), basis)  # type: ignore[arg-type]
    return Rate(interactions, None, None)


def combined(rates: list[Rate]) -> float | None:
    """Several posts' rate, as :data:`AGGREGATE_SQL` computes it (for code outside SQL)."""
    counted = [r for r in rates if r.denominator]
    total = sum(r.denominator for r in counted)  # type: ignore[misc]
    return sum(r.interactions for r in counted) / total if total else None


# The same definition over one row that has the vocabulary's columns (NULL: not reported) and
# ``followers``, the account's followers at the time.
INTERACTIONS_SQL = " + ".join(f"coalesce({name}, 0)" for name in INTERACTIONS)
_BASES = ("reach", "views", "followers")
DENOMINATOR_SQL = "CASE " + " ".join(f"WHEN {b} > 0 THEN {b}" for b in _BASES) + " END"
BASIS_SQL = "CASE " + " ".join(f"WHEN {b} > 0 THEN '{b}'" for b in _BASES) + " END"

AGGREGATE_SQL = (
    "(sum(c.interactions) FILTER (WHERE c.denominator > 0)"
    " / nullif(sum(c.denominator) FILTER (WHERE c.denominator > 0), 0))"
)
"""Several posts' engagement rate over rows ``c`` of the latest sample per post."""

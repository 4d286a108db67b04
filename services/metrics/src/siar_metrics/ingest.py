"""Storing the publisher's answers: samples in batches, never row by row, and never twice.

One call stores a whole batch of insights.collected / insights.failed events in the caller's
transaction:

1. one answer per request id, and for the answers, one statement (store.store_collected) that
   takes the readings answered off the list of readings to take — an answer whose reading is no
   longer there (redelivered, or a second answer to a request asked twice) is not stored: the
   request id is the deduplication key, so these events need no inbox row — and appends every raw
   value as a sample row (raw name and value, its normalised name beside it) and the reading with
   its normalised values, engagement and raw values, all with the same commit; the announcer
   (siar_metrics.announce) publishes each reading's engagement.sampled / audience.sampled event
   from the readings once committed;
2. failures plan the reading again at ``retry_at`` or after a backoff, or give it up."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import pydantic_core
import structlog
from siar_contracts import CloudEvent, ErrorClass, InsightsCollected, InsightsFailed

from . import store
from .vocabulary import VOCABULARY_COLUMNS

log = structlog.get_logger("siar.metrics.ingest")

# Reading again cannot hurt, so an answer lost in a timeout is retried like a transient fault.
RETRYABLE = frozenset({
    ErrorClass.RATE_LIMITED, ErrorClass.QUOTA_EXHAUSTED, ErrorClass.TRANSIENT, ErrorClass.AUTH_EXPIRED,
    ErrorClass.OUTCOME_UNKNOWN,
})


@dataclass(frozen=True, slots=True)
class Answer:
    event: CloudEvent
    payload: InsightsCollected | InsightsFailed


@dataclass
class Outcome:
    """What one batch did, for the service's Prometheus counters."""

    samples: Counter = field(default_factory=Counter)        # platform -> sample rows
    collected: Counter = field(default_factory=Counter)      # (platform, kind)
    retrying: Counter = field(default_factory=Counter)       # (platform, kind)
    failed: Counter = field(default_factory=Counter)         # (platform, kind)
    duplicates: int = 0  # answers already stored, or for a request this service does not know

    @property
    def total_samples(self) -> int:
        return sum(self.samples.values())


@dataclass(frozen=True, slots=True)
class Policy:
    max_attempts: int = 8
    backoff_seconds: float = 60
    backoff_max_seconds: float = 6 * 3600


async def store_answers(conn: asyncpg.Connection, answers: Sequence[Answer], policy: Policy) -> Outcome:
    """Store a batch of answers inside the caller's transaction."""
    outcome = Outcome()
    collected: dict[str, InsightsCollected] = {}
    failed: dict[str, InsightsFailed] = {}
    for answer in answers:
        p = answer.payload
        box = collected if isinstance(p, InsightsCollected) else failed
        if p.request_id in box:
            outcome.duplicates += 1
        else:
            box[p.request_id] = p  # type: ignore[assignment]
    for request_id in collected.keys() & failed.keys():
        del failed[request_id]  # an answer beats a failure of the same request
        outcome.duplicates += 1
    last_failed: dict[str, datetime] = {}
    for p in failed.values():
        last_failed[p.platform] = max(p.failed_at, last_failed.get(p.platform, p.failed_at))
    if failed:
        await _failed(conn, failed, policy, outcome)
    # The platforms' rows are shared by every batch: one upsert in platform order, after the
    # accounts' (store.store_collected), so that concurrent batches never deadlock.
    if collected:
        await _collected(conn, collected, outcome, last_failed)
    elif last_failed:
        await store.touch_failed_platforms(conn, last_failed)
    return outcome


# What the statement reads of each answer (the rest it takes from the reading asked for): a
# quarter less JSON for PostgreSQL to read.
_STATEMENT_FIELDS = {"__all__": {"request_id", "kind", "platform", "account_id", "collected_at", "metrics"}}


async def _collected(conn: asyncpg.Connection, answers: dict[str, InsightsCollected], outcome: Outcome,
                     last_failed: dict[str, datetime]) -> None:
    """Store the answered readings in one statement (store.store_collected).

    This runs once per answer at tens of thousands a second, so Python does nothing per value:
    the payloads go over as one JSON document (pydantic-core, in Rust) and PostgreSQL
    deduplicates, normalises, rates, and writes samples and readings. test_ingest checks the
    stored values against vocabulary.normalise and engagement.rate, and test_announce every
    event against the payload models."""
    given = list(answers.values())
    stored = await store.store_collected(
        conn, pydantic_core.to_json(given, include=_STATEMENT_FIELDS), VOCABULARY_COLUMNS,
        channel=store.ANNOUNCED_CHANNEL, failed=last_failed)
    answered = 0
    for row in stored:
        outcome.samples[row["platform"]] += row["samples"]
        outcome.collected[(row["platform"], row["kind"])] += row["answers"]
        answered += row["answers"]
    outcome.duplicates += len(given) - answered


async def _failed(conn: asyncpg.Connection, answers: dict[str, InsightsFailed], policy: Policy, outcome: Outcome) -> None:
    ordered = sorted(answers.values(), key=lambda p: p.request_id)
    rows = await store.mark_failed(
        conn,
        {
            "request_id": [p.request_id for p in ordered],
            "error_class": [p.error_class.value for p in ordered],
            "reason": [p.reason for p in ordered],
            "retry_at": [p.retry_at for p in ordered],
            "retryable": [p.error_class in RETRYABLE for p in ordered],
        },
        policy.max_attempts, policy.backoff_seconds, policy.backoff_max_seconds,
    )
    outcome.duplicates += len(ordered) - len(rows)
    for row in rows:
        key = (row["platform"], row["kind"])
        # What the SiarInsightsNotCollected runbook sends an operator to (docs/operations.md).
        if row["state"] == "planned":
            outcome.retrying[key] += 1
            log.info("collection will be retried", platform=row["platform"], kind=row["kind"],
                     account_id=row["account_id"], error_class=row["error_class"], reason=row["reason"],
                     attempts=row["attempts"], at=row["due_at"].isoformat())
        else:
            outcome.failed[key] += 1
            log.warning("collection failed", platform=row["platform"], kind=row["kind"],
                        account_id=row["account_id"], error_class=row["error_class"], reason=row["reason"],
                        attempts=row["attempts"])

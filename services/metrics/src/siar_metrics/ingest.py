"""Storing the publisher's answers: samples in batches with one COPY, never row by row, and never
twice.

One call stores a whole batch of insights.collected / insights.failed events in the caller's
transaction:

1. one answer per request id: the readings answered are taken off the list of readings to take
   in one ``DELETE … RETURNING``; an answer whose reading is no longer there (redelivered, or a
   second answer to a request asked twice) is not stored — the request id is the deduplication
   key, so these events need no inbox row;
2. the readings (normalised values, engagement) in one ``COPY``, and every raw value as a sample
   row (raw name and value, its normalised name beside it) in another;
3. failures plan the reading again at ``retry_at`` or after a backoff, or give it up;
4. engagement.sampled / audience.sampled go to the outbox with the same commit."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from siar_contracts import (
    AudienceSampled,
    CloudEvent,
    EngagementSampled,
    ErrorClass,
    InsightsCollected,
    InsightsFailed,
)
from siar_runtime.outbox import write_events

from . import store
from .collections import SCHEMA, event
from .engagement import Rate, rate
from .vocabulary import normalise, table

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
    events: int = 0

    @property
    def total_samples(self) -> int:
        return sum(self.samples.values())


@dataclass(frozen=True, slots=True)
class Policy:
    max_attempts: int = 8
    backoff_seconds: float = 60
    backoff_max_seconds: float = 6 * 3600


async def store_answers(conn: asyncpg.Connection, answers: list[Answer], policy: Policy, *,
                        announce: bool = True) -> Outcome:
    """Store a batch of answers inside the caller's transaction (``announce=False`` leaves out the
    events: the benchmark uses it to show what they cost)."""
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
    events: list[CloudEvent] = []
    if collected:
        events += await _collected(conn, collected, outcome, announce)
    if failed:
        await _failed(conn, failed, policy, outcome)
    last_ok: dict[str, datetime] = {}
    for p in collected.values():
        last_ok[p.platform] = max(p.collected_at, last_ok.get(p.platform, p.collected_at))
    last_failed: dict[str, datetime] = {}
    for p in failed.values():
        last_failed[p.platform] = max(p.failed_at, last_failed.get(p.platform, p.failed_at))
    await store.touch_platforms(conn, last_ok, last_failed)
    if events:
        outcome.events = await write_events(conn, SCHEMA, events)
    return outcome


async def _collected(conn: asyncpg.Connection, answers: dict[str, InsightsCollected], outcome: Outcome,
                     announce: bool = True) -> list[CloudEvent]:
    taken = await store.take_answered(conn, sorted(answers))
    outcome.duplicates += len(answers) - len(taken)
    if not taken:
        return []
    followers = await store.followers_of(conn, sorted({r["account_id"] for r in taken if r["kind"] == "post"}))
    readings: list[tuple] = []
    samples: list[tuple] = []
    audience: dict[str, tuple[str, str, float, datetime]] = {}
    stored: list[tuple[asyncpg.Record, InsightsCollected, dict[str, float], Rate | None]] = []
    for row in taken:
        p = answers[str(row["request_id"])]
        request_id, at, platform, account_id, target_id = (
            row["request_id"], p.collected_at, row["platform"], row["account_id"], row["target_id"])
        values: dict[str, float] = normalise(row["kind"], platform, p.metrics)
        r: Rate | None = None
        if row["kind"] == "post":
            then = followers.get(account_id)
            if then is not None:
                values["followers"] = then
            r = rate(values, then)
        elif "followers" in values:
            reading = (account_id, platform, values["followers"], at)
            if account_id not in audience or audience[account_id][3] < at:  # the newest of the batch
                audience[account_id] = reading
        get = values.get
        readings.append((
            request_id, row["kind"], row["stage"], target_id, row["post_id"], account_id, platform,
            row["planned_at"], at, row["attempts"], get("views"), get("reach"), get("likes"), get("comments"),
            get("shares"), get("saves"), get("clicks"), get("followers"),
            r.interactions if r else None, r.denominator if r else None, r.basis if r else None,
        ))
        mapping = table(row["kind"], platform)
        for name, value in p.metrics.items():
            samples.append((request_id, at, platform, account_id, target_id, mapping.get(name), name, float(value)))
        outcome.samples[platform] += len(p.metrics)
        outcome.collected[(platform, row["kind"])] += 1
        stored.append((row, p, values, r))
    await store.copy_readings(conn, readings)
    await store.copy_samples(conn, samples)
    await store.record_followers(conn, sorted(audience.values()))
    if not announce:
        return []
    campaigns = await store.campaigns_of(conn, sorted({r["post_id"] for r, *_ in stored if r["post_id"]}))
    return [_announce(row, p, values, r, campaigns) for row, p, values, r in stored]


def _announce(row: asyncpg.Record, p: InsightsCollected, values: dict[str, float], r: Rate | None,
              campaigns: dict[str, str]) -> CloudEvent:
    """engagement.sampled for a post's reading, audience.sampled for an account's."""
    if r is not None:
        payload = EngagementSampled(
            request_id=p.request_id, post_id=row["post_id"], target_id=row["target_id"],
            account_id=row["account_id"], platform=row["platform"], platform_post_id=row["platform_post_id"],
            campaign_id=campaigns.get(row["post_id"]), published_at=row["published_at"],
            collected_at=p.collected_at,
            metrics={k: _number(v) for k, v in values.items() if k != "followers"},
            raw=dict(p.metrics), engagement_rate=r.value, engagement_basis=r.basis,
        )
        return event(payload, row["correlation_id"], f"target/{row['target_id']}")
    followers = values.get("followers")
    payload = AudienceSampled(
        request_id=p.request_id, account_id=row["account_id"], platform=row["platform"],
        collected_at=p.collected_at, followers=None if followers is None else _number(followers),
        raw=dict(p.metrics),
    )
    return event(payload, row["correlation_id"], f"account/{row['account_id']}")


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
        if row["state"] == "planned":
            outcome.retrying[key] += 1
        else:
            outcome.failed[key] += 1


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value

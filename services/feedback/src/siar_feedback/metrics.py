"""The feedback service's own Prometheus metrics.

Labels stay bounded: channel (clamped to the fixed channel list), source, reason, and — for the
NPS gauge only — the slug of each *open* survey, a set a library keeps small; a survey's series is
removed when it closes. Never a patron, a response or a patron key."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog
from prometheus_client import Counter, Gauge
from siar_runtime.metrics import ChassisMetrics

from . import store
from .channels import KNOWN, OTHER
from .responses import Outcome, Result

log = structlog.get_logger("siar.feedback.metrics")


class FeedbackMetrics:
    def __init__(self, chassis: ChassisMetrics) -> None:
        self.chassis = chassis
        r = chassis.registry
        self.responses = Counter(
            "siar_feedback_responses_total",
            "Survey responses accepted, by channel (a fixed list) and source (page, api, event)",
            ["channel", "source"],
            registry=r,
        )
        self.refused = Counter(
            "siar_feedback_responses_refused_total",
            "Survey responses not stored, by reason (honeypot, rate_limited, duplicate, not_open, invalid; on the "
            "page also form_token: no valid form token, too_fast: sent within seconds of the page, resubmitted: "
            "the same form again)",
            ["reason", "source"],
            registry=r,
        )
        self.nps = Gauge(
            "siar_feedback_nps",
            "Net promoter score (-100 to 100) of each open survey with NPS answers, labelled by its slug",
            ["survey"],
            registry=r,
        )
        self.open_surveys = Gauge("siar_feedback_surveys_open", "Surveys taking responses now", registry=r)
        self._nps_labels: set[str] = set()

    def observe(self, result: Result) -> None:
        source = result.submission.source
        if result.outcome is Outcome.ACCEPTED:
            channel = result.submission.channel
            self.responses.labels(channel if channel in KNOWN else OTHER, source).inc()
        else:
            self.refused.labels(result.outcome.value, source).inc()

    def refuse(self, reason: str, source: str) -> None:
        self.refused.labels(reason, source).inc()

    async def refresh(self, pool: asyncpg.Pool) -> None:
        """Recompute the per-survey gauges from the database (shared by every replica)."""
        async with pool.acquire() as conn:
            rows = await store.open_nps(conn)
        self.open_surveys.set(len(rows))
        current = set()
        for row in rows:
            if row["n"]:
                current.add(row["slug"])
                self.nps.labels(row["slug"]).set(round(100 * (row["promoters"] - row["detractors"]) / row["n"], 1))
        for gone in self._nps_labels - current:
            with contextlib.suppress(KeyError):
                self.nps.remove(gone)
        self._nps_labels = current


class Refresher:
    """Keeps the gauges fresh: every ``seconds``, and soon after a response, open or close."""

    def __init__(self, metrics: FeedbackMetrics, pool: asyncpg.Pool, seconds: float) -> None:
        self.metrics = metrics
        self.pool = pool
        self.seconds = seconds
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._event.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="feedback-metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.metrics.refresh(self.pool)
                async with self.pool.acquire() as conn:
                    await store.prune_rate_windows(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("could not refresh the survey gauges", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), self.seconds)
            self._event.clear()
            await asyncio.sleep(0.5)  # a burst of responses costs one query, not one each

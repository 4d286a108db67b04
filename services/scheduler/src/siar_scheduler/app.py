"""Wiring: settings, database, broker, consumer, outbox relay, due runner and HTTP in one process."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import asynccontextmanager
from functools import partial

import structlog
from fastapi import FastAPI
from siar_runtime.auth import bearer_auth
from siar_runtime.bus import Bus, outgoing
from siar_runtime.consumer import Consumer
from siar_runtime.db import Database
from siar_runtime.due import DueRunner
from siar_runtime.http import create_service_app
from siar_runtime.inbox import Pruner
from siar_runtime.lifecycle import stop_all
from siar_runtime.logging import configure_logging
from siar_runtime.metrics import ChassisMetrics
from siar_runtime.outbox import OutboxRelay

from . import api_planning, posts, recheck, series, store
from . import planning_store as plans
from .api import router
from .handlers import batch_handlers, handlers
from .metrics import SchedulerMetrics, due_at_in
from .policy import Policy
from .settings import SchedulerSettings
from .watch import watch_overdue

SERVICE = "scheduler"
log = structlog.get_logger("siar.scheduler")


async def _cancel(task: asyncio.Task | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


def create_app(settings: SchedulerSettings | None = None) -> FastAPI:
    settings = settings or SchedulerSettings()
    metrics = SchedulerMetrics(ChassisMetrics(SERVICE))
    policy = Policy.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db = await Database.open(settings.database_url, SERVICE, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        bus = Bus(settings.amqp_url, SERVICE)
        await bus.connect()
        relay = OutboxRelay(db, bus, metrics.chassis, batch=settings.outbox_batch, poll_seconds=settings.outbox_poll_seconds,
                            confirmed=lambda sent: metrics.observe_confirmed(
                                due_at_in(o.body) for o in sent if o.routing_key == "post.due"))

        async def announce(events) -> None:
            # Bounded: the claim holds its targets' row locks (an edit or a cancel of one waits)
            # and a transaction open while it waits for the broker.
            async with asyncio.timeout(10):
                await bus.publish_confirmed([outgoing(e) for e in events])
            metrics.observe_confirmed(e.data.get("due_at") for e in events if e.short_name == "post.due")
            for e in events:
                metrics.chassis.events_published.labels(e.short_name).inc()

        async def dispatch(conn, limit: int):
            # post.due goes to the broker from the claiming transaction, which commits once the
            # broker confirmed it: the outbox's guarantee — a claim whose events were not
            # confirmed rolls back and is claimed again, a repeat after a lost commit is absorbed
            # downstream like a relay's repeat — without writing, reading and deleting an outbox
            # row per post and a second transaction before each post.due leaves (bench/burst.py:
            # 1,605 -> 1,865-2,220 confirmed a second; at 500/s steady 15 % less scheduler CPU
            # for the same lateness, docs/benchmarks.md item 11). While the broker is not
            # connected, claims use the outbox.
            return await posts.dispatch_due(conn, limit, announce=announce if bus.ready else None)

        def dispatched(rows) -> None:
            metrics.observe_dispatch(rows)
            relay.wake()

        runner = DueRunner(
            db,
            name="posts-due",
            channel=store.DUE_CHANNEL,
            seconds_until_next_sql=store.SECONDS_UNTIL_NEXT_DUE,
            claim=dispatch,
            batch=settings.dispatch_batch,
            sweep_seconds=settings.sweep_seconds,
            after_commit=dispatched,
            parallel=settings.dispatch_parallel,
        )
        # Recurring series are made for a rolling horizon; this runner moves it on (daily per series).
        extender = DueRunner(
            db,
            name="series-extend",
            channel=plans.SERIES_CHANNEL,
            seconds_until_next_sql=plans.SECONDS_UNTIL_NEXT_EXTENSION,
            claim=series.extension_claim(policy),
            batch=20,
            after_commit=lambda rows: relay.wake(),
        )
        consumer = Consumer(bus, SERVICE, handlers(db.pool, policy), metrics.chassis, prefetch=settings.prefetch,
                            batch_handlers=batch_handlers(db.pool))
        app.state.db = db
        app.state.bus = bus

        recheck_wakeup = asyncio.Event()  # a post written or changed may be due for its links' second look

        def wake() -> None:
            runner.wake()
            relay.wake()
            recheck_wakeup.set()

        app.state.wake = wake
        relay.start()
        pruner = Pruner(db.pool, settings.inbox_keep_days)
        pruner.start()
        runner.start()
        extending = asyncio.create_task(series.keep_extending(extender), name="series-extend")
        rechecking = None
        if settings.media_recheck_minutes and policy.checks.mode("media_links") != "off":
            def at_risk(post_ids: list[str]) -> None:
                metrics.at_risk.inc(len(post_ids))
                relay.wake()

            rechecking = asyncio.create_task(
                recheck.keep_rechecking(db.pool, policy, settings.media_recheck_minutes, announced=at_risk,
                                        wakeup=recheck_wakeup),
                name="media-recheck",
            )
        watching = asyncio.create_task(
            watch_overdue(db.pool, metrics, grace_seconds=settings.overdue_grace_seconds,
                          every_seconds=settings.overdue_check_seconds),
            name="overdue-watch",
        )
        await consumer.start()
        log.info("scheduler started", port=settings.http_port)
        try:
            yield
        finally:
            await stop_all([
                ("consumer", consumer.stop),
                ("due runner", runner.stop),
                ("series extender", partial(_cancel, extending)),
                ("overdue watch", partial(_cancel, watching)),
                ("media recheck", partial(_cancel, rechecking)),
                ("outbox relay", relay.stop),
                ("inbox pruner", pruner.stop),
                ("broker", bus.close),
                ("database", db.close),
            ])

    app = create_service_app(
        title="Siar scheduler",
        description="Posts, their targets and the calendar. Emits post.due at each target's time.",
        metrics=metrics.chassis,
        lifespan=lifespan,
    )
    auth = bearer_auth(settings.tokens)
    app.include_router(router(auth, policy))
    app.include_router(api_planning.router(auth, policy))
    return app


def main() -> None:
    from siar_runtime.serve import serve
    from siar_runtime.settings import load_settings

    settings = load_settings(SchedulerSettings, SERVICE)
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.http_port)

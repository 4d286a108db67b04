"""Wiring: settings, database, broker, consumer, outbox relay, due runner and HTTP in one process."""

from __future__ import annotations

from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from siar_runtime.auth import bearer_auth
from siar_runtime.bus import Bus
from siar_runtime.consumer import Consumer
from siar_runtime.db import Database
from siar_runtime.due import DueRunner
from siar_runtime.http import create_service_app
from siar_runtime.lifecycle import stop_all
from siar_runtime.logging import configure_logging
from siar_runtime.metrics import ChassisMetrics
from siar_runtime.outbox import OutboxRelay

from . import posts, store
from .api import router
from .handlers import handlers
from .metrics import SchedulerMetrics
from .settings import SchedulerSettings

SERVICE = "scheduler"
log = structlog.get_logger("siar.scheduler")


def create_app(settings: SchedulerSettings | None = None) -> FastAPI:
    settings = settings or SchedulerSettings()
    metrics = SchedulerMetrics(ChassisMetrics(SERVICE))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db = await Database.open(settings.database_url, SERVICE, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        bus = Bus(settings.amqp_url, SERVICE)
        await bus.connect()
        relay = OutboxRelay(db, bus, metrics.chassis, batch=settings.outbox_batch, poll_seconds=settings.outbox_poll_seconds)

        def dispatched(rows) -> None:
            metrics.observe_dispatch(rows)
            relay.wake()

        runner = DueRunner(
            db,
            name="posts-due",
            channel=store.DUE_CHANNEL,
            seconds_until_next_sql=store.SECONDS_UNTIL_NEXT_DUE,
            claim=posts.dispatch_due,
            batch=settings.dispatch_batch,
            sweep_seconds=settings.sweep_seconds,
            after_commit=dispatched,
        )
        consumer = Consumer(bus, SERVICE, handlers(db.pool), metrics.chassis, prefetch=settings.prefetch)
        app.state.db = db
        app.state.bus = bus

        def wake() -> None:
            runner.wake()
            relay.wake()

        app.state.wake = wake
        relay.start()
        runner.start()
        await consumer.start()
        log.info("scheduler started", port=settings.http_port)
        try:
            yield
        finally:
            await stop_all([
                ("consumer", consumer.stop),
                ("due runner", runner.stop),
                ("outbox relay", relay.stop),
                ("broker", bus.close),
                ("database", db.close),
            ])

    async def db_ready() -> None:
        await app.state.db.ping()

    async def bus_ready() -> None:
        if not app.state.bus.ready:
            raise ConnectionError("broker connection is down")

    app = create_service_app(
        title="Siar scheduler",
        description="Posts, their targets and the calendar. Emits post.due at each target's time.",
        metrics=metrics.chassis,
        checks=[("database", db_ready), ("broker", bus_ready)],
        lifespan=lifespan,
    )
    app.include_router(router(bearer_auth(settings.tokens), settings.past_grace_seconds))
    return app


def main() -> None:
    from siar_runtime.serve import serve

    settings = SchedulerSettings()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.http_port)

"""Wiring: settings, database, broker, consumer, outbox relay, the opening/closing due runner,
the gauges and HTTP (API and public pages) in one process."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from functools import partial

import structlog
from fastapi import FastAPI
from siar_runtime.auth import bearer_auth
from siar_runtime.bus import Bus
from siar_runtime.consumer import Consumer
from siar_runtime.db import Database
from siar_runtime.due import DueRunner
from siar_runtime.http import create_service_app
from siar_runtime.inbox import Pruner
from siar_runtime.lifecycle import stop_all
from siar_runtime.logging import configure_logging
from siar_runtime.metrics import ChassisMetrics
from siar_runtime.outbox import OutboxRelay

from . import page, store, surveys
from .api import router
from .handlers import handlers
from .metrics import FeedbackMetrics, Refresher
from .settings import FeedbackSettings

SERVICE = "feedback"
log = structlog.get_logger("siar.feedback")


def create_app(settings: FeedbackSettings | None = None) -> FastAPI:
    settings = settings or FeedbackSettings()
    metrics = FeedbackMetrics(ChassisMetrics(SERVICE))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db = await Database.open(settings.database_url, SERVICE, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        bus = Bus(settings.amqp_url, SERVICE)
        await bus.connect()
        relay = OutboxRelay(db, bus, metrics.chassis, batch=settings.outbox_batch, poll_seconds=settings.outbox_poll_seconds)
        refresher = Refresher(metrics, db.pool, settings.metrics_refresh_seconds)

        def changed(rows) -> None:
            relay.wake()
            refresher.wake()

        runner = DueRunner(
            db,
            name="survey-dates",
            channel=store.DUE_CHANNEL,
            seconds_until_next_sql=store.SECONDS_UNTIL_NEXT_CHANGE,
            claim=partial(surveys.apply_dates, base_url=settings.base_url),
            batch=100,
            sweep_seconds=settings.sweep_seconds,
            after_commit=changed,
        )

        def wake() -> None:
            runner.wake()
            relay.wake()
            refresher.wake()

        consumer = Consumer(
            bus, SERVICE,
            handlers(db.pool, secret=settings.feedback_secret, metrics=metrics, wake=wake),
            metrics.chassis, prefetch=settings.prefetch,
        )
        app.state.db = db
        app.state.bus = bus
        app.state.metrics = metrics
        app.state.wake = wake
        app.state.refresher = refresher
        relay.start()
        pruner = Pruner(db.pool, settings.inbox_keep_days)
        pruner.start()
        runner.start()
        refresher.start()
        await consumer.start()
        log.info("feedback started", port=settings.http_port)
        try:
            yield
        finally:
            await stop_all([
                ("consumer", consumer.stop),
                ("due runner", runner.stop),
                ("gauges", refresher.stop),
                ("outbox relay", relay.stop),
                ("inbox pruner", pruner.stop),
                ("broker", bus.close),
                ("database", db.close),
            ])

    app = create_service_app(
        title="Siar feedback",
        description=(
            "Patron surveys: define them, open and close them, take responses and read results. "
            "Patrons answer on the public page /s/{slug} (not part of this API). "
            "Emits survey.opened, survey.closed and feedback.response.received; consumes "
            "feedback.response.submitted from other systems."
        ),
        metrics=metrics.chassis,
        lifespan=lifespan,
    )
    app.include_router(router(bearer_auth(settings.tokens), settings))
    app.include_router(page.router(settings))
    return app


def main() -> None:
    from siar_runtime.serve import serve
    from siar_runtime.settings import load_settings

    settings = load_settings(FeedbackSettings, SERVICE)
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    # The survey page reads X-Forwarded-For itself, from SIAR_SURVEY_TRUSTED_PROXIES only
    # (clients.py). uvicorn would read it first, trusting 127.0.0.1 and ::1 by default, and put
    # whatever a local proxy passed on in the client's place: here it trusts no one.
    os.environ["FORWARDED_ALLOW_IPS"] = ""
    serve(create_app(settings), settings.http_host, settings.http_port)

"""Wiring: settings, database, broker, consumer, outbox relay, delivery worker and HTTP."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import timedelta

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

from . import store, tokens
from .adapters import mediafetch
from .api import router
from .delivery import DeliveryWorker
from .handlers import INSIGHTS_QUEUE, batch_handlers, handlers, insights_handlers
from .insights import InsightsReader
from .metrics import PublisherMetrics
from .settings import PublisherSettings
from .tokens import TokenRefresher
from .transport import http_client
from .vault import Vault

SERVICE = "publisher"
log = structlog.get_logger("siar.publisher")


def create_app(settings: PublisherSettings | None = None) -> FastAPI:
    settings = settings or PublisherSettings()
    metrics = PublisherMetrics(ChassisMetrics(SERVICE))
    vault = Vault(settings.credentials_key)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db = await Database.open(settings.database_url, SERVICE, min_size=settings.db_pool_min,
                                 max_size=settings.db_pool_max)
        bus = Bus(settings.amqp_url, SERVICE)
        await bus.connect()
        mediafetch.configure(max_bytes=settings.media_max_bytes, disk_bytes=settings.media_disk_bytes,
                             directory=settings.media_dir)
        client = http_client(timeout_seconds=settings.http_timeout_seconds, max_connections=settings.concurrency * 2,
                             egress=settings.egress())
        relay = OutboxRelay(db, bus, metrics.chassis, batch=settings.outbox_batch,
                            poll_seconds=settings.outbox_poll_seconds)
        runner: DueRunner

        def committed() -> None:
            relay.wake()
            runner.wake()

        worker = DeliveryWorker(db, client, vault, metrics, settings, on_committed=committed)
        runner = DueRunner(
            db,
            name="deliveries",
            channel=store.DELIVERY_CHANNEL,
            seconds_until_next_sql=store.SECONDS_UNTIL_NEXT,
            claim=worker.claim,
            batch=settings.claim_batch,
            sweep_seconds=settings.sweep_seconds,
            after_commit=worker.start_attempts,
        )
        refresher = TokenRefresher(client, vault, metrics, timedelta(seconds=settings.token_refresh_ahead_seconds),
                                   on_committed=committed)
        worker.refresh_now = lambda account_id: refresher.refresh_now(db.pool, account_id)
        token_runner = DueRunner(
            db,
            name="token-refresh",
            channel=tokens.CHANNEL,
            seconds_until_next_sql=tokens.seconds_until_next_sql(refresher.ahead),
            claim=refresher.claim,
            batch=10,
            sweep_seconds=30,
            after_commit=lambda rows: relay.wake(),
        )
        reader = InsightsReader(client, vault, metrics, on_answered=relay.wake)
        consumer = Consumer(bus, SERVICE, handlers(db.pool, runner.wake, reader), metrics.chassis,
                            prefetch=settings.prefetch, batch_handlers=batch_handlers(db.pool, runner.wake))
        # Insights requests have a queue of their own: each is a platform call, and a day's
        # readings coming due must never hold back one post.due.
        insights = Consumer(bus, INSIGHTS_QUEUE, insights_handlers(db.pool, reader), metrics.chassis,
                            prefetch=settings.insights_prefetch)
        app.state.db = db
        app.state.bus = bus
        app.state.client = client
        app.state.vault = vault
        app.state.wake = committed
        relay.start()
        pruner = Pruner(db.pool, settings.inbox_keep_days)
        pruner.start()
        runner.start()
        token_runner.start()
        await consumer.start()
        await insights.start()
        log.info("publisher started", port=settings.http_port)
        try:
            yield
        finally:
            await stop_all([
                # No new attempts, then the ones under way finish, first (the stop grace counts
                # from SIGTERM): a call ends within the HTTP timeout; cancelled sooner, its outcome
                # would be unknown and the post checked for before being sent again.
                ("due runner", runner.stop),
                ("deliveries in flight", worker.drain, settings.http_timeout_seconds + 5),
                ("consumer", consumer.stop),
                ("insights consumer", insights.stop),
                ("token refresh", token_runner.stop),
                ("outbox relay", relay.stop),
                ("inbox pruner", pruner.stop),
                ("http client", client.aclose),
                ("broker", bus.close),
                ("database", db.close),
            ])

    app = create_service_app(
        title="Siar publisher",
        description="Platform accounts and deliveries: exactly one platform post per target.",
        metrics=metrics.chassis,
        lifespan=lifespan,
    )
    app.include_router(router(bearer_auth(settings.tokens)))
    return app


def main() -> None:
    from siar_runtime.serve import serve
    from siar_runtime.settings import load_settings

    settings = load_settings(PublisherSettings, SERVICE)
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.http_port)

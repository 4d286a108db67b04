"""Wiring: settings, database, broker, consumer (answers in batches), outbox relay, the
readings' announcer, the collections due runner, the gauges and HTTP in one process."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from siar_runtime.auth import bearer_auth
from siar_runtime.batches import Batcher
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

from . import ingest, store
from .announce import Announcer
from .api import router
from .collections import Requester
from .handlers import handlers
from .metrics import MetricsMetrics
from .settings import MetricsSettings
from .upkeep import Upkeep

SERVICE = "metrics"
log = structlog.get_logger("siar.metrics")


def create_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()
    metrics = MetricsMetrics(ChassisMetrics(SERVICE))
    policy = ingest.Policy(max_attempts=settings.collection_max_attempts,
                           backoff_seconds=settings.collection_backoff_seconds,
                           backoff_max_seconds=settings.collection_backoff_max_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db = await Database.open(settings.database_url, SERVICE, min_size=settings.db_pool_min,
                                 max_size=settings.db_pool_max)
        bus = Bus(settings.amqp_url, SERVICE)
        await bus.connect()
        relay = OutboxRelay(db, bus, metrics.chassis, batch=settings.outbox_batch,
                            poll_seconds=settings.outbox_poll_seconds)
        announcer = Announcer(db, bus, metrics.chassis, batch=settings.outbox_batch,
                              poll_seconds=settings.outbox_poll_seconds)
        upkeep = Upkeep(db.pool, metrics, refresh_seconds=settings.gauge_refresh_seconds,
                        window_days=settings.gauge_window_days, campaign_labels=settings.campaign_labels,
                        retention_days=settings.sample_retention_days)
        requester = Requester(answer_timeout=settings.answer_timeout, max_attempts=settings.collection_max_attempts,
                              audience_interval=settings.audience_interval,
                              in_flight=settings.collection_in_flight)

        def requested(claimed) -> None:
            metrics.requested(claimed)
            relay.wake()

        runner = DueRunner(
            db,
            name="collections",
            channel=store.DUE_CHANNEL,
            seconds_until_next_sql=store.seconds_until_next_sql(settings.collection_in_flight),
            claim=requester.claim,
            batch=settings.collection_batch,
            sweep_seconds=settings.sweep_seconds,
            after_commit=requested,
        )

        async def store_batch(answers: Sequence[ingest.Answer]) -> None:
            async with db.pool.acquire() as conn, conn.transaction():
                outcome = await ingest.store_answers(conn, answers, policy)
            metrics.stored(outcome, len(answers))
            announcer.wake()
            runner.wake()
            upkeep.wake()

        # Grouped like commits: a batch goes at once while fewer than ingest_concurrency are being
        # stored, and what arrives meanwhile goes in the next (siar_runtime.batches).
        batcher: Batcher[ingest.Answer] = Batcher(store_batch, max_size=settings.ingest_batch,
                                                  linger=settings.ingest_linger_ms / 1000,
                                                  concurrency=settings.ingest_concurrency, name="answers")

        def wake() -> None:
            runner.wake()
            relay.wake()

        consumer = Consumer(bus, SERVICE, handlers(db.pool, settings, batcher, store_batch, wake), metrics.chassis,
                            prefetch=settings.prefetch)
        app.state.db = db
        app.state.bus = bus
        app.state.wake = wake
        relay.start()
        await announcer.prepare()  # before the consumer stores anything
        announcer.start()
        pruner = Pruner(db.pool, settings.inbox_keep_days)
        pruner.start()
        runner.start()
        upkeep.start()
        await consumer.start()
        log.info("metrics started", port=settings.http_port, schedule=settings.collection_schedule)
        try:
            yield
        finally:
            await stop_all([
                ("consumer", consumer.stop),
                ("answers waiting", batcher.drain),
                ("due runner", runner.stop),
                ("gauges", upkeep.stop),
                ("outbox relay", relay.stop),
                ("announcer", announcer.stop),
                ("inbox pruner", pruner.stop),
                ("broker", bus.close),
                ("database", db.close),
            ])

    app = create_service_app(
        title="Siar metrics",
        description=(
            "Engagement and audience over time. Follows every published post on a decaying schedule and "
            "every account's audience daily (through the publisher, the only holder of credentials), keeps "
            "every sample, and reports top posts, performance per campaign, hashtag, platform and account, "
            "audience growth and the best hours to post, as JSON or CSV. Engagement rate: docs/metrics.md."
        ),
        metrics=metrics.chassis,
        lifespan=lifespan,
    )
    app.include_router(router(bearer_auth(settings.tokens), settings.timezone))
    return app


def main() -> None:
    from siar_runtime.serve import serve
    from siar_runtime.settings import load_settings

    settings = load_settings(MetricsSettings, SERVICE)
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.http_port)

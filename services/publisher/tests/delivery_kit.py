"""What the delivery-worker tests share: the real database, the real sandbox in-process (every
exchange recorded), one connected account and a delivery for it, and the real worker claiming
and attempting it (no mocks)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from siar_contracts import MediaItem
from siar_publisher import store
from siar_publisher.delivery import DeliveryWorker
from siar_publisher.metrics import PublisherMetrics
from siar_publisher.settings import PublisherSettings
from siar_publisher.vault import Vault
from siar_runtime.db import Database
from siar_runtime.metrics import ChassisMetrics
from siar_sandbox.app import create_app
from siar_sandbox.settings import Settings

SANDBOX = "http://sandbox"
MEDIA = f"{SANDBOX}/_sandbox/media"


def video(name: str = "clip.mp4") -> MediaItem:
    return MediaItem(url=f"{MEDIA}/{name}", kind="video", alt_text="Cuplikan acara", mime_type="video/mp4")


async def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait until ``condition()`` holds (fails the test after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


@dataclass
class Kit:
    db: Database
    client: httpx.AsyncClient
    worker: DeliveryWorker
    metrics: PublisherMetrics
    settings: PublisherSettings
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path) the sandbox answered

    async def add_delivery(self, target_id: str, platform: str, text: str, media: list[MediaItem],
                           title: str | None = None) -> None:  # fmt: skip
        async with self.db.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO deliveries (target_id, post_id, account_id, platform, correlation_id, due_at, text,"
                " media, title) VALUES ($1, $2, 'a1', $3, $4, $5, $6, $7::jsonb, $8)",
                target_id, f"p-{target_id}", platform, f"c-{target_id}", datetime.now(UTC), text,
                [m.model_dump(mode="json") for m in media], title,
            )  # fmt: skip

    async def claim(self) -> list:
        """As the due runner does: claim (with rate admission) in one transaction."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            return await self.worker.claim(conn, 10)

    async def claim_elsewhere(self) -> list:
        """What another replica's claim would take now."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            return await store.claim(conn, 10, self.settings.lease_seconds, [])

    async def delivery(self, target_id: str) -> dict[str, Any]:
        async with self.db.pool.acquire() as conn:
            return dict(await store.get_delivery(conn, target_id))

    async def events(self, routing_key: str) -> list[dict]:
        async with self.db.pool.acquire() as conn:
            rows = await conn.fetch("SELECT body FROM outbox WHERE routing_key = $1 ORDER BY id", routing_key)
        return [json.loads(bytes(r["body"]))["data"] for r in rows]

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.chassis.registry.get_sample_value(name, labels)
        return value or 0.0


@asynccontextmanager
async def delivery_kit(clean_db: str, sandbox: Settings, account: dict[str, Any],
                       **settings: Any) -> AsyncIterator[Kit]:  # fmt: skip
    """A worker with ``settings`` over the real database, whose platform calls go to the sandbox
    app configured by ``sandbox``; ``account`` (platform, handle, base_url, credentials,
    settings) is connected as ``a1``."""
    publisher = PublisherSettings(database_url=clean_db, environment="test", **settings)
    vault = Vault(publisher.credentials_key)
    db = await Database.open(clean_db, "publisher")
    calls: list[tuple[str, str]] = []

    async def record(response: httpx.Response) -> None:
        calls.append((response.request.method, response.request.url.path))

    try:
        async with db.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO accounts (account_id, platform, handle, base_url, credentials, settings)"
                " VALUES ('a1', $1, $2, $3, $4, $5::jsonb)",
                account["platform"], account["handle"], account["base_url"], vault.seal(account["credentials"]),
                account.get("settings") or {},
            )  # fmt: skip
        transport = httpx.ASGITransport(app=create_app(sandbox))
        async with httpx.AsyncClient(transport=transport, event_hooks={"response": [record]}) as client:
            metrics = PublisherMetrics(ChassisMetrics("test"))
            worker = DeliveryWorker(db, client, vault, metrics, publisher, on_committed=lambda: None)
            kit = Kit(db, client, worker, metrics, publisher, calls)
            try:
                yield kit
            finally:
                await worker.drain()
    finally:
        await db.close()

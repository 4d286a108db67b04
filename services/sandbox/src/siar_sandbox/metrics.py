"""Prometheus metrics (one CollectorRegistry per app) and the ASGI middleware that counts every
request by platform and status code. Labels stay bounded: platform, status code, fault kind."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import PLATFORMS

if TYPE_CHECKING:
    from .store import Store

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "siar_sandbox_requests",
            "HTTP requests answered by the sandbox, by platform and status code.",
            ["platform", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "siar_sandbox_request_duration_seconds",
            "Time from request to response start, by platform (held timeouts included).",
            ["platform"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.posts_accepted = Counter(
            "siar_sandbox_posts_accepted",
            "Posts accepted and recorded (idempotent replays excluded), by platform.",
            ["platform"],
            registry=self.registry,
        )
        self.faults_injected = Counter(
            "siar_sandbox_faults_injected",
            "Faults injected on write requests, by platform and kind.",
            ["platform", "kind"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "siar_sandbox_rate_limited",
            "Requests refused by a configured rate limit (not injected faults), by platform.",
            ["platform"],
            registry=self.registry,
        )


def platform_of(path: str) -> str:
    head = path[1:].split("/", 1)[0]
    if head in PLATFORMS:
        return head
    if head == "_sandbox":
        return "control"
    return "other"


class RequestAccounting:
    """Pure ASGI middleware (no per-request task or body buffering): counts each response by
    platform and status in both Prometheus and the store's stats."""

    def __init__(self, app: ASGIApp, metrics: Metrics, store: Store) -> None:
        self.app = app
        self.metrics = metrics
        self.store = store
        self._children: dict[tuple[str, int], tuple[object, object]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        platform = platform_of(scope["path"])
        started = time.perf_counter()
        recorded = False

        def record(status: int) -> None:
            nonlocal recorded
            recorded = True
            key = (platform, status)
            children = self._children.get(key)
            if children is None:
                children = (
                    self.metrics.requests.labels(platform, str(status)),
                    self.metrics.request_seconds.labels(platform),
                )
                self._children[key] = children
            children[0].inc()  # type: ignore[attr-defined]
            children[1].observe(time.perf_counter() - started)  # type: ignore[attr-defined]
            self.store.requests[key] += 1

        async def send_counted(message: Message) -> None:
            if message["type"] == "http.response.start" and not recorded:
                record(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            if not recorded:
                record(500)

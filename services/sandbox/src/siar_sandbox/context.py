"""What one app instance holds on ``app.state.sandbox``: settings, state, faults, metrics."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from .faults import Faults
from .metrics import Metrics
from .settings import Settings
from .store import Store


@dataclass(slots=True)
class Sandbox:
    settings: Settings
    store: Store
    faults: Faults
    metrics: Metrics

    @classmethod
    def create(cls, settings: Settings) -> Sandbox:
        return cls(settings=settings, store=Store(settings), faults=Faults(), metrics=Metrics())

    def reset(self) -> None:
        """Forget posts, idempotency keys, media, faults, limits, revocations and counters.
        Prometheus counters stay monotonic, as Prometheus expects."""
        self.store.reset()
        self.faults.clear()

    def fault_injected(self, platform: str, kind: str) -> None:
        self.store.faults_injected[(platform, kind)] += 1
        self.metrics.faults_injected.labels(platform, kind).inc()


def sandbox_of(request: Request) -> Sandbox:
    return request.app.state.sandbox  # type: ignore[no-any-return]

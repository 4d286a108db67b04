"""``python -m siar_sandbox``: serve the sandbox with uvicorn (access log off, JSON logs)."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from contextlib import asynccontextmanager

import structlog
import uvicorn

from .app import create_app
from .logs import configure_logging
from .settings import Settings, SettingsError


def _freeze_what_it_keeps(app, every: float) -> None:
    """Every ``every`` seconds, move what the sandbox has kept since out of the collector's sight.

    The sandbox keeps every post it accepted (the control API lists them; reads and insights
    need them), so its heap grows with each one, and a full collection walks all of it: 160–240
    ms within the first minute of the steady benchmark, longer after, until the publisher fell
    behind in its fifth minute — stalls no real platform has, measured as Siar's. The young
    generations are collected first, so little garbage is frozen with what is kept."""
    if every <= 0:
        return
    inner = app.router.lifespan_context

    async def freezer() -> None:
        while True:
            await asyncio.sleep(every)
            gc.collect(1)
            gc.freeze()

    @asynccontextmanager
    async def lifespan(a):
        task = asyncio.create_task(freezer())
        try:
            async with inner(a) as state:
                yield state
        finally:
            task.cancel()

    app.router.lifespan_context = lifespan


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"siar-sandbox: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    log = structlog.get_logger("siar_sandbox")
    app = create_app(settings)
    log.info(
        "sandbox_starting",
        host=settings.http_host,
        port=settings.http_port,
        platforms=["mastodon", "telegram"],
    )
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        access_log=False,
        log_config=None,
        log_level=settings.log_level
        if settings.log_level in ("critical", "error", "warning")
        else "warning",
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        backlog=4096,
        # Longer than a client keeps an idle connection (the publisher 4 s, httpx 5 s), so the
        # sandbox never closes one just as a request is sent on it (siar_runtime.serve).
        timeout_keep_alive=75,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; with these no-op handlers
    # in place that re-raise is absorbed and the process exits 0 after logging that it stopped.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    # What the start made lives as long as the process: out of the collector's sight, so that a
    # full collection walks only what serving made, and young collections come every 5,000 net
    # allocations instead of 700 (the services do the same, siar_runtime.serve).
    gc.collect()
    gc.freeze()
    gc.set_threshold(5_000, 20, 20)
    _freeze_what_it_keeps(app, settings.freeze_seconds)
    server.run()
    log.info("sandbox_stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run an ASGI app with uvicorn, quietly: the services log through structlog.

The event loop is uvloop and the HTTP parser httptools where they are installed (they are
dependencies of this package on every platform but Windows): measured on the burst benchmark,
the pure-Python selector loop spent a fifth of the scheduler's and the publisher's CPU in
socket writes and epoll bookkeeping (docs/benchmarks.md, "Where the CPU went")."""

from __future__ import annotations

import uvicorn


def serve(app, host: str, port: int) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop="auto",
        http="auto",
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()

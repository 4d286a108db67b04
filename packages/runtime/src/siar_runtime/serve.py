"""Run an ASGI app with uvicorn, quietly: the services log through structlog."""

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
        loop="asyncio",
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()

"""Run an ASGI app with uvicorn, quietly: the services log through structlog.

The event loop is uvloop and the HTTP parser httptools where they are installed (they are
dependencies of this package on every platform but Windows): measured on the burst benchmark,
the pure-Python selector loop spent a fifth of the scheduler's and the publisher's CPU in
socket writes and epoll bookkeeping (docs/benchmarks.md, "Where the CPU went").

Once the service has started, everything alive is moved out of the garbage collector's sight
(:func:`settle_heap`): a full collection otherwise walks every object the imports and the start
made — FastAPI, pydantic's schemas, the connection pools — to find the few that died since.
Measured on the steady benchmark before this, such a pause held the scheduler's event loop for
73 ms on average, eleven times a minute, up to 140 ms: lateness that no query or broker setting
could remove (docs/benchmarks.md).

The young generations are collected less often, too (:data:`GC_THRESHOLD`: every 5,000 net
allocations instead of 700): a service at 500 posts a second made a young collection 60 times
a second, and every tenth one promoted what was in flight — rows, frames, events still awaited —
towards the old generation, where the full collections then found it. Measured with a
``gc.callbacks`` probe over 60 s at 500 posts a second: the publisher's collections 1.6 -> 0.8 s,
the scheduler's 0.45 -> 0.2 s, full collections 31 -> 3 in the publisher, the start's own
included (docs/benchmarks.md, "Where the CPU went", item 9)."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

import uvicorn

GC_THRESHOLD = (5_000, 20, 20)
"""gc.set_threshold for a running service (Python's default: 700, 10, 10)."""


def settle_heap() -> None:
    """Collect what the start left behind, then freeze the rest: later collections look only at
    objects made since, and the young generation is collected less often (:data:`GC_THRESHOLD`).
    Called after start-up (a service once; the benchmark's subscriber at each run), when what is
    alive is what lives as long as the process anyway."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def _settled_after_startup(app) -> None:
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        async with inner(a) as state:
            settle_heap()
            yield state

    app.router.lifespan_context = lifespan


KEEP_ALIVE_SECONDS = 75
"""How long an idle client connection stays open. Longer than any client keeps one for reuse
(httpx: 5 s, the same as uvicorn's default): with equal times the server could close a
connection just as the client sent its next request on it, and that request failed with a read
error (seen once in CI, sixteen POSTs at once to the scheduler). 75 s is nginx's default."""


def config(app, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop="auto",
        http="auto",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=5,
    )


def serve(app, host: str, port: int) -> None:
    _settled_after_startup(app)
    uvicorn.Server(config(app, host, port)).run()

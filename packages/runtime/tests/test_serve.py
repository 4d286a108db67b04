"""The serving process freezes what its start made, once the service's own start-up has run."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI
from siar_runtime.serve import GC_THRESHOLD, _settled_after_startup


async def test_the_heap_is_settled_after_the_services_own_start_and_before_it_serves():
    seen: list[tuple[str, int]] = []

    @asynccontextmanager
    async def lifespan(app):
        seen.append(("started", gc.get_freeze_count()))
        yield
        seen.append(("stopping", gc.get_freeze_count()))

    app = FastAPI(lifespan=lifespan)
    gc.unfreeze()
    threshold = gc.get_threshold()
    _settled_after_startup(app)
    try:
        async with app.router.lifespan_context(app):
            seen.append(("serving", gc.get_freeze_count()))
            serving_threshold = gc.get_threshold()
    finally:
        gc.unfreeze()  # the test process goes on collecting as before
        gc.set_threshold(*threshold)
    assert [name for name, _ in seen] == ["started", "serving", "stopping"]
    assert seen[0][1] == 0 and seen[1][1] > 0  # frozen after the start-up, not before
    assert serving_threshold == GC_THRESHOLD  # young collections less often once serving


def test_an_idle_connection_outlives_the_clients_reuse_of_it():
    # A client reuses an idle connection for up to its keep-alive expiry; the server must keep it
    # open longer, or it may close it just as the client's next request goes out (a read error).
    import httpx
    from siar_runtime.serve import config

    served = config(FastAPI(), "127.0.0.1", 0)
    assert served.timeout_keep_alive > httpx.Limits().keepalive_expiry
    assert served.timeout_keep_alive > 4.0  # the publisher's platform clients (transport.py)

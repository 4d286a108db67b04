"""The sandbox application: every platform under its own base path, control under /_sandbox,
health and metrics at the root. Each ``create_app()`` builds an independent instance."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from . import (
    bluesky,
    control,
    facebook,
    instagram,
    linkedin,
    mastodon,
    telegram,
    threads,
    tiktok,
    x,
    youtube,
)
from .context import Sandbox, sandbox_of
from .metrics import RequestAccounting
from .responses import json_response
from .settings import Settings

# One line per platform: its module's routes are mounted under /<name>.
PLATFORM_ROUTES: dict[str, list[BaseRoute]] = {
    "mastodon": mastodon.routes,
    "telegram": telegram.routes,
    "facebook": facebook.routes,
    "instagram": instagram.routes,
    "threads": threads.routes,
    "linkedin": linkedin.routes,
    "x": x.routes,
    "youtube": youtube.routes,
    "tiktok": tiktok.routes,
    "bluesky": bluesky.routes,
}


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    # Nothing external to wait for: in-memory state is ready as soon as the app is.
    return json_response({"status": "ok"})


async def metrics(request: Request) -> Response:
    registry = sandbox_of(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings if settings is not None else Settings.from_env()
    sandbox = Sandbox.create(settings)
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Mount("/_sandbox", routes=control.routes),
    ]
    routes += [
        Mount(f"/{name}", routes=platform_routes)
        for name, platform_routes in PLATFORM_ROUTES.items()
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    app.add_middleware(RequestAccounting, metrics=sandbox.metrics, store=sandbox.store)
    return app

"""The HTTP edge every service shares: /healthz, /readyz, /metrics and problem details."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .limits import MAX_BODY_BYTES, BodyLimit
from .metrics import ChassisMetrics
from .problems import PROBLEM_JSON, install_problem_handlers
from .storable import StorableText

ReadinessCheck = tuple[str, Callable[[], Awaitable[None]]]


def add_operational_routes(app: FastAPI, metrics: ChassisMetrics, checks: list[ReadinessCheck]) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        failing: dict[str, str] = {}
        for name, check in checks:
            try:
                await asyncio.wait_for(check(), 3)
            except Exception as exc:  # any failure means not ready
                failing[name] = str(exc) or type(exc).__name__
        if failing:
            return JSONResponse(
                {
                    "type": "about:blank",
                    "title": "Not ready",
                    "status": 503,
                    "detail": "; ".join(f"{k}: {v}" for k, v in failing.items()),
                    "checks": {name: ("ok" if name not in failing else failing[name]) for name, _ in checks},
                },
                status_code=503,
                media_type=PROBLEM_JSON,
            )
        return JSONResponse({"status": "ok", "checks": {name: "ok" for name, _ in checks}})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def state_checks(app: FastAPI) -> list[ReadinessCheck]:
    """Ready when the database answers and the broker connection is up: ``app.state.db`` and
    ``app.state.bus``, which a service's lifespan sets (before it has, the service is not ready)."""

    async def database() -> None:
        await app.state.db.ping()

    async def broker() -> None:
        if not app.state.bus.ready:
            raise ConnectionError("broker connection is down")

    return [("database", database), ("broker", broker)]


def create_service_app(
    *,
    title: str,
    description: str,
    metrics: ChassisMetrics,
    checks: list[ReadinessCheck] | None = None,
    lifespan=None,
    version: str = "0.1.0",
) -> FastAPI:
    """``checks``: what /readyz asks; by default :func:`state_checks` (the database and the broker)."""
    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    install_problem_handlers(app)
    app.add_middleware(StorableText)
    app.add_middleware(BodyLimit)  # added last, so it runs first: nothing reads an oversized body
    document_body_limit(app)
    add_operational_routes(app, metrics, state_checks(app) if checks is None else checks)
    return app


BODY_METHODS = ("post", "put", "patch")  # the methods BodyLimit reads a body of


def document_body_limit(app: FastAPI) -> None:
    """BodyLimit answers before any route, so FastAPI does not know of its 413: add it to every
    operation that takes a body in the app's OpenAPI document (a client generated from it, or a
    contract test, would otherwise meet an answer the document never mentions)."""
    build = app.openapi

    def openapi() -> dict:
        schema = build()  # FastAPI's, cached by it (and built again when routes change)
        for item in schema.get("paths", {}).values():
            for method in BODY_METHODS:
                if method in item:
                    item[method].setdefault("responses", {}).setdefault("413", {
                        "description": f"The request body is over {MAX_BODY_BYTES // 2**20} MiB",
                        "content": {PROBLEM_JSON: {}},
                    })
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

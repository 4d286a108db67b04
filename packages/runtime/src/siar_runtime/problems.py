"""RFC 9457 problem details for every HTTP error, so each says what was wrong and where."""

from __future__ import annotations

import re
from typing import Any

import asyncpg.exceptions as pg
from asyncpg.exceptions._base import DataError as QueryArgumentError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://siar.dev/problems/"


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_ or "about:blank"
        self.headers = headers
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    return JSONResponse(
        problem.body(request.url.path if request else None),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


_UNPARSEABLE_BODY = "There was an error parsing the body"


def _invalid(errors: list[dict[str, str]]) -> Problem:
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return Problem(422, "Invalid request", detail, type_=TYPE_BASE + "validation", errors=errors)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path: Starlette's own 405 names only the first route's,
    and FastAPI makes one route per method (and nests included routers), so ask each method."""
    routes = request.app.router.routes
    return [m for m in _METHODS if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in routes)]


# A valid-looking value beyond what Python's datetime or PostgreSQL can hold (year 1 shifted to UTC,
# 9999-12-31 plus a day, a month after 9999-12): the request's fault, so a 422, wherever in the
# handler the arithmetic or the database noticed. Only these; any other error stays a 500.
_RANGE_MESSAGE = "a date or number is out of the range Siar can handle (dates: years 1-9999)"
_PG_RANGE = (pg.DatetimeFieldOverflowError, pg.NumericValueOutOfRangeError, pg.InvalidDatetimeFormatError,
             pg.InvalidTimeZoneDisplacementValueError, pg.CharacterNotInRepertoireError,
             pg.UntranslatableCharacterError)
_YEAR_OUT_OF_RANGE = re.compile(r"year -?\d+ is out of range")


def _out_of_range(exc: BaseException) -> bool:
    if isinstance(exc, (OverflowError, QueryArgumentError, *_PG_RANGE)):
        return True
    if isinstance(exc, pg.DataError) and str(exc).startswith("invalid input for query argument"):
        return True  # asyncpg could not encode a parameter (a date beyond PostgreSQL's range)
    return isinstance(exc, ValueError) and _YEAR_OUT_OF_RANGE.search(str(exc)) is not None


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _UNPARSEABLE_BODY:
            # FastAPI's answer to a body that is not UTF-8: the same 422 as a body that is not JSON.
            return problem_response(_invalid([{"field": "body", "message": "not valid UTF-8 JSON"}]), request)
        title = _TITLES.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return problem_response(Problem(exc.status_code, title, detail, headers=headers), request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body",
                "message": err.get("msg", "invalid"),
            }
            for err in exc.errors()
        ]
        return problem_response(_invalid(errors), request)

    async def _range(request: Request, exc: Exception) -> JSONResponse:
        if not _out_of_range(exc):
            raise exc  # any other error of these kinds: the 500 below
        import structlog

        structlog.get_logger("siar.http").info("value out of range", path=request.url.path, error=str(exc)[:200])
        return problem_response(_invalid([{"field": "request", "message": _RANGE_MESSAGE}]), request)

    for kind in (OverflowError, ValueError, pg.DataError):
        app.add_exception_handler(kind, _range)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        import structlog

        structlog.get_logger("siar.http").exception("unhandled error", path=request.url.path)
        return problem_response(
            Problem(500, "Internal error", "Something went wrong inside Siar; the logs say what."),
            request,
        )

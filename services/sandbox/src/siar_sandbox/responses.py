"""Response helpers shared by the platform modules and the control API."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def json_bytes(payload: Any) -> bytes:
    return _dumps(payload).encode("utf-8")


def json_response(
    payload: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    media_type: str = "application/json",
) -> Response:
    return Response(json_bytes(payload), status_code=status, headers=headers, media_type=media_type)


def problem(
    status: int,
    title: str,
    detail: str,
    type_: str = "about:blank",
    errors: list[dict[str, str]] | None = None,
) -> Response:
    """RFC 9457 problem details."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return Response(json_bytes(body), status_code=status, media_type="application/problem+json")


def nginx_error_page(status: int) -> Response:
    """The HTML page an nginx in front of the platform sends for a gateway error."""
    reason = {
        413: "Request Entity Too Large",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Temporarily Unavailable",
        504: "Gateway Time-out",
    }.get(status, "Error")
    body = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return Response(body, status_code=status, media_type="text/html")

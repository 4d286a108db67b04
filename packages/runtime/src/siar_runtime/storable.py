"""Refuse text PostgreSQL cannot store, at the HTTP edge: a NUL character (in the path, the query,
a JSON, form or text body) or a lone UTF-16 surrogate (a JSON ``\\udXXX`` escape without its pair).

Either would otherwise pass validation and fail deep inside a handler as a database or encoding
error (a 500). No librarian types them; they come from broken clients and fuzzers, so one guard
for every service beats a validator on every text field."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import PROBLEM_JSON, TYPE_BASE

# Cheap first look at a JSON body; only a hit pays for decoding it to find the field.
_JSON_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _bad(text: str) -> str | None:
    if "\x00" in text:
        return "NUL characters are not allowed"
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return "a lone UTF-16 surrogate is not a character"
    return None


def _walk(value: Any, path: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        reason = _bad(value)
        return (path, reason) if reason else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _walk(key, path) or _walk(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found = _walk(item, f"{path}.{n}")
            if found:
                return found
    return None


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


def _in_body(content_type: str, body: bytes) -> tuple[str, str] | None:
    if content_type == "application/json" or content_type.endswith("+json"):
        if not _JSON_SUSPECT.search(body):
            return None
        try:
            return _walk(json.loads(body), "body")
        except ValueError:
            return None  # not JSON: FastAPI answers that itself
    if content_type == "application/x-www-form-urlencoded":
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return next(((f"form.{k}", r) for k, v in pairs if (r := _bad(k) or _bad(v))), None)
    if content_type.startswith("text/") and b"\x00" in body:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return None  # not UTF-8 at all (UTF-16 has NULs too): the handler says what it reads
        return "body", "NUL characters are not allowed (a file saved as UTF-16? Siar reads UTF-8)"
    return None


class StorableText:
    """Pure ASGI middleware: 422 problem details for text PostgreSQL cannot store."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = None
        if "\x00" in scope.get("path", ""):
            found = ("path", "NUL characters are not allowed")
        else:
            query = scope.get("query_string", b"").decode("latin-1")
            pairs = parse_qsl(query, keep_blank_values=True) if "%00" in query or "\x00" in query else ()
            found = next(((f"query.{k}", r) for k, v in pairs if (r := _bad(k) or _bad(v))), None)
        content_type = _content_type(scope)
        checks_body = content_type.endswith("json") or content_type.startswith("text/") or (
            content_type == "application/x-www-form-urlencoded")
        if found is None and checks_body and scope.get("method") in ("POST", "PUT", "PATCH"):
            messages: list[Message] = []
            more = True
            while more:
                message = await receive()
                messages.append(message)
                more = message["type"] == "http.request" and message.get("more_body", False)
            found = _in_body(content_type, b"".join(m.get("body", b"") for m in messages))

            async def replay() -> Message:
                return messages.pop(0) if messages else await receive()

            receive = replay
        if found is None:
            await self.app(scope, receive, send)
            return
        field, reason = found
        body = json.dumps({
            "type": TYPE_BASE + "validation", "title": "Invalid request", "status": 422,
            "detail": f"{field}: {reason}", "instance": scope.get("path", ""),
            "errors": [{"field": field, "message": reason}],
        }, ensure_ascii=True).encode()
        await send({"type": "http.response.start", "status": 422,
                    "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

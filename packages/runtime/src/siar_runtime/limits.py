"""A ceiling on request bodies, at the HTTP edge of every service.

FastAPI reads a whole body into memory before any dependency runs — the token check included —
so without a ceiling anyone who can reach a service could make it hold a body of any size. No
request to Siar's APIs is large (media travel as URLs; a month's calendar CSV is kilobytes), so
one generous ceiling for all: a body declared larger is refused unread, one that is not declared
(chunked) is read no further than the ceiling."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import PROBLEM_JSON, TYPE_BASE

MAX_BODY_BYTES = 8 * 1024 * 1024


class BodyLimit:
    """Pure ASGI middleware: 413 problem details for a request body over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = next((value for name, value in scope.get("headers", ()) if name == b"content-length"), None)
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._refuse(scope, send)
                return
            # The server delivers no more than the declared length: nothing to count or hold.
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []  # no length (chunked): counted as it arrives, held until whole
        size = 0
        more = True
        while more:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            more = message["type"] == "http.request" and message.get("more_body", False)

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        detail = f"the request body is larger than {self.max_bytes // (1024 * 1024)} MiB, the most any Siar API takes"
        body = json.dumps({"type": TYPE_BASE + "too-large", "title": "Request body too large", "status": 413,
                           "detail": detail, "instance": scope.get("path", "")}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

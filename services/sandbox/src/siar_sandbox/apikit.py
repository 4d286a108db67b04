"""Pieces shared by the X, YouTube, TikTok and Bluesky imitations: bearer tokens that are issued,
expire and rotate; applying a fault decision; dropping a connection part-way; and engagement
numbers that grow with the time since a post was published.

Every time here is the sandbox's clock (``store.now()``), so ``PUT /_sandbox/clock`` ages
tokens and posts alike."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import secrets
from dataclasses import dataclass, field

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .context import Sandbox
from .faults import Decision
from .store import Store, stable_number

log = structlog.get_logger("siar_sandbox.apikit")


# --------------------------------------------------------------------------- dropped connections


class ConnectionCut(Exception):
    """Raised after a response has started, so that the server drops the connection: a real
    server (uvicorn) closes the socket and the client sees the answer cut off. In-process tests
    translate it into the transport error their HTTP client would raise."""


class DroppedConnection(Response):
    """A response that starts and never finishes: the connection is dropped mid-answer."""

    def __init__(self) -> None:
        super().__init__(b"", status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"4096"), (b"content-type", b"application/json")],
            }
        )
        raise ConnectionCut("the sandbox dropped the connection (interrupt fault)")


# --------------------------------------------------------------------------- requests


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def identity(token: str, default: str = "sandbox") -> str:
    """The account a token stands for: its part before the first ``.`` (``library.abc`` ->
    ``library``), as the Mastodon imitation does; tokens the sandbox issues keep the prefix."""
    head = token.split(".", 1)[0] if "." in token else default
    return head or default


def base_url(request: Request) -> str:
    url = request.url
    return f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}"


def log_id() -> str:
    """A TikTok/Google-style request id for error bodies."""
    return secrets.token_hex(16).upper()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --------------------------------------------------------------------------- tokens


@dataclass(slots=True)
class TokenBook:
    """Access and refresh tokens of one platform.

    A token the sandbox has never seen is accepted (as the Mastodon imitation accepts any token)
    and its lifetime starts when first seen; a token the sandbox issued ends when it says. A
    refresh token can be used once: refreshing rotates it, as X, TikTok and Bluesky do (a
    platform that keeps refresh tokens, such as Google, passes ``rotate=False``)."""

    lifetime: float
    access: dict[str, float] = field(default_factory=dict)  # token -> expires at
    used_refresh: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)  # expired through the control API

    def state(self, store: Store, platform: str, token: str | None) -> str:
        """``ok``, ``missing``, ``invalid`` (malformed or starting with ``revoked``),
        ``revoked`` (through the control API) or ``expired``."""
        if token is None:
            return "missing"
        if not token or token.startswith("revoked"):
            return "invalid"
        if store.is_revoked(platform, token):
            return "revoked"
        if token in self.expired or token_expired(store, platform, token):
            return "expired"
        now = store.now()
        expires_at = self.access.get(token)
        if expires_at is None:
            self.access[token] = now + self.lifetime
        elif now >= expires_at:
            return "expired"
        return "ok"

    def issue(self, store: Store, owner: str, prefix: str = "") -> tuple[str, float]:
        token = f"{owner}.{prefix}{secrets.token_urlsafe(24)}"
        expires_at = store.now() + self.lifetime
        self.access[token] = expires_at
        return token, expires_at

    def use_refresh(self, store: Store, platform: str, token: str, rotate: bool = True) -> bool:
        """True when the refresh token is good (and, if rotating, now spent)."""
        if not token or token.startswith("revoked") or store.is_revoked(platform, token):
            return False
        if token in self.expired or token_expired(store, platform, token):
            return False
        if token in self.used_refresh:
            return False
        if rotate:
            self.used_refresh.add(token)
        return True


def token_expired(store: Store, platform: str, token: str) -> bool:
    """Expired through ``POST /_sandbox/tokens/expire`` (when the store offers it)."""
    expired = getattr(store, "expired", None)
    if not expired:
        return False
    found = expired.get(platform)
    return bool(found) and token in found


# --------------------------------------------------------------------------- faults


@dataclass(slots=True)
class Fault:
    """What the fault configuration decided for one write request, for the platform module to
    render in its own wire format. ``kind`` is ``ok``, a status code as text, ``timeout``
    (already held: answer 504 and record nothing), ``timeout_after_commit`` (commit, then hold
    ``hold_seconds``) or ``interrupt`` (drop the connection)."""

    kind: str
    retry_after: int = 2
    hold_seconds: float = 0.0


async def decide(sandbox: Sandbox, platform: str, account: str | None, *, read: bool = False) -> Fault:
    """The fault for one write request, or with ``read`` for one metrics read (a post's counts,
    an account's audience), which only ``"calls": "reads"|"all"`` configurations fault."""
    decision: Decision | None = sandbox.faults.decide(platform, account, read=read)
    if decision is None:
        return Fault("ok")
    if decision.latency > 0:
        await asyncio.sleep(decision.latency)
    kind = decision.kind
    if kind == "ok":
        return Fault("ok")
    sandbox.fault_injected(platform, kind)
    log.debug("fault_injected", platform=platform, kind=kind, account=account)
    if kind == "timeout":
        await asyncio.sleep(decision.timeout_seconds)
    hold = decision.timeout_seconds if kind == "timeout_after_commit" else 0.0
    return Fault(kind, max(1, decision.retry_after), hold)


async def held(response: Response, fault: Fault) -> Response:
    """``timeout_after_commit``: the thing exists; answer later than the client waits."""
    if fault.kind == "timeout_after_commit" and fault.hold_seconds > 0:
        await asyncio.sleep(fault.hold_seconds)
    return response


# --------------------------------------------------------------------------- insights


def grown(key: str, metric: str, age_seconds: float, scale: float, days: float = 2.0) -> int:
    """An engagement count that is 0 at publication and grows with the post's age, fast at first
    and levelling off (most engagement comes in the first days), never decreasing. Deterministic:
    the same post, metric and age always give the same number. ``scale`` is the typical final
    count; each post gets its own multiplier between 0.5 and 1.5 of it."""
    if age_seconds <= 0:
        return 0
    multiplier = 0.5 + stable_number(f"{key}|{metric}", 1000) / 1000
    tau = days * 86_400
    fraction = 1.0 - math.exp(-age_seconds / tau)
    # A square-root start so that the first minutes already show something.
    early = min(1.0, math.sqrt(age_seconds / tau))
    return int(scale * multiplier * max(fraction, 0.25 * early))


def audience(key: str, base: int, age_seconds: float, per_day: float) -> int:
    """A follower count: a stable base per account plus steady growth over time."""
    start = base // 2 + stable_number(f"{key}|base", max(1, base))
    return start + int(max(0.0, age_seconds) / 86_400 * per_day)


def digest_id(text: str, length: int) -> str:
    """A stable, URL-safe id of ``length`` characters derived from ``text``."""
    return b64url(hashlib.sha256(text.encode("utf-8")).digest())[:length]

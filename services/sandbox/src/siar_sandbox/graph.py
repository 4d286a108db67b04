"""Meta's Graph API conventions, shared by the Facebook, Instagram and Threads imitations.

What the three hosts (graph.facebook.com, graph.instagram.com, graph.threads.net) have in common:

- paths with or without a version prefix (``/v21.0/{id}/media`` and ``/{id}/media``);
- parameters from the query string, a form, multipart or a JSON body, the token as
  ``access_token`` or ``Authorization: Bearer|OAuth``;
- every error as ``{"error": {"message", "type", "code", "error_subcode", "error_user_title",
  "error_user_msg", "fbtrace_id"}}`` (developers.facebook.com/docs/graph-api/guides/error-handling);
- ``X-App-Usage`` and ``X-Business-Use-Case-Usage`` headers (percentages of the budget, and
  ``estimated_time_to_regain_access`` in minutes) on every answer
  (developers.facebook.com/docs/graph-api/overview/rate-limiting);
- publishing containers whose ``status_code`` goes IN_PROGRESS -> FINISHED | ERROR, EXPIRED when
  unpublished after 24 hours, PUBLISHED once published (…/instagram-platform/…/ig-container;
  …/threads/troubleshooting);
- tokens: any non-empty token is valid unless it starts with ``revoked`` (190, subcode 460) or
  ``expired`` (190, subcode 463), was revoked (460) or expired (463) through the control API, or
  was issued by a refresh and has passed its end; one starting with ``noperm`` lacks the
  publishing permission (10/200). The token's part before the first ``.`` names its user (``library.secret`` -> ``library``).

Each platform module describes its endpoints with a :class:`Router`; :func:`routes` turns it
into the Starlette routes mounted under ``/<platform>``."""

from __future__ import annotations

import asyncio
import json
import math
import re
import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import structlog
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import samples
from .context import Sandbox, sandbox_of
from .faults import ERROR_CODES
from .mediainfo import guess_mime
from .responses import json_bytes, nginx_error_page
from .store import Limit, Store, stable_number

log = structlog.get_logger("siar_sandbox.graph")

JSON = "application/json; charset=UTF-8"
CONTAINER_LIFETIME = 24 * 3600  # an unpublished container expires after 24 hours
LONG_LIVED_SECONDS = 5_183_944  # "expires_in" of a long-lived token (about 60 days)
CALL_BUDGET = 4_800  # calls an hour before X-App-Usage reads 100 (a notional budget)
_VERSION_RE = re.compile(r"^v\d+\.\d+$")
_ID_RE = re.compile(r"^\d+$")
_MAX_FORM_PART = 8 * 1024 * 1024


# --------------------------------------------------------------------------- errors


class GraphError(Exception):
    """A Graph API error, rendered in Meta's error shape."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        status: int = 400,
        type_: str = "OAuthException",
        user_title: str | None = None,
        user_msg: str | None = None,
        is_transient: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.status = status
        self.type = type_
        self.user_title = user_title
        self.user_msg = user_msg
        self.is_transient = is_transient
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        if self.user_title is not None:
            error["error_user_title"] = self.user_title
        if self.user_msg is not None:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = fbtrace_id()
        return {"error": error}

    def response(self, headers: dict[str, str] | None = None) -> Response:
        merged = {**(headers or {}), **self.headers}
        if self.code == 190 or self.code == 104:
            merged["WWW-Authenticate"] = (
                f'OAuth "Facebook Platform" "invalid_token" "{self.message}"'
            )
        return Response(
            json_bytes(self.body()), status_code=self.status, headers=merged, media_type=JSON
        )


class Injected(Exception):
    """A fault whose answer is not a Graph error (a gateway's HTML page)."""

    def __init__(self, response: Response) -> None:
        super().__init__("fault injected")
        self.response = response


def fbtrace_id() -> str:
    alphabet = string.ascii_letters + string.digits + "_-"
    return "A" + "".join(secrets.choice(alphabet) for _ in range(22))


def no_object(object_id: str, method: str = "get") -> GraphError:
    """The answer for an id that does not exist (or that this token may not see)."""
    return GraphError(
        100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read the "
        "Graph API documentation at https://developers.facebook.com/docs/graph-api",
        subcode=33,
        type_="GraphMethodException",
    )


def invalid_parameter(message: str, *, subcode: int | None = None, user_msg: str | None = None,
                      user_title: str | None = None) -> GraphError:  # fmt: skip
    return GraphError(
        100, message, subcode=subcode, user_msg=user_msg, user_title=user_title,
        is_transient=False if subcode else None,
    )  # fmt: skip


def nonexisting_field(name: str, node_type: str) -> GraphError:
    return GraphError(100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})")


def field_spec(field: str) -> tuple[str, dict[str, str]]:
    """A requested field's name and modifiers: ``comments.limit(0).summary(true)`` ->
    ``("comments", {"limit": "0", "summary": "true"})`` (sub-fields in braces are ignored)."""
    name = re.split(r"[.{]", field, maxsplit=1)[0].strip()
    modifiers = dict(re.findall(r"\.(\w+)\(([^)]*)\)", field))
    return name, modifiers


def missing_parameter(name: str) -> GraphError:
    return GraphError(100, f"(#100) The parameter {name} is required")


# --------------------------------------------------------------------------- tokens


@dataclass(slots=True)
class TokenInfo:
    token: str
    user: str
    issued_at: float
    expires_at: float | None  # None: never ends (Page tokens)
    scopes: tuple[str, ...]


def user_of(token: str) -> str:
    head = token.split(".", 1)[0] if "." in token else "sandbox"
    return head or "sandbox"


def numeric_id(prefix: int, name: str, digits: int = 15) -> str:
    """A stable numeric id for ``name`` (the same in every process)."""
    return str(prefix * 10**digits + stable_number(name, 10**digits))


@dataclass
class GraphState:
    """What every Graph imitation keeps: issued tokens, ids and call counts."""

    platform: str
    token_lifetime: float | None  # None: tokens never end (Facebook Page tokens)
    scopes: tuple[str, ...] = ()
    tokens: dict[str, TokenInfo] = field(default_factory=dict)
    sequence: int = 0
    refreshes: int = 0

    def next_id(self, now: float) -> str:
        """Increasing numeric ids: milliseconds since the epoch, then a sequence."""
        self.sequence += 1
        return str(int(now * 1000) * 1000 + self.sequence % 1000)

    def token(self, token: str, now: float) -> TokenInfo:
        found = self.tokens.get(token)
        if found is None:
            expires = None if self.token_lifetime is None else now + self.token_lifetime
            found = TokenInfo(token, user_of(token), now, expires, self.scopes)
            self.tokens[token] = found
        return found

    def issue(self, user: str, now: float, lifetime: float) -> TokenInfo:
        self.refreshes += 1
        token = f"{user}.{self.platform[:2]}r{self.refreshes}{secrets.token_hex(8)}"
        info = TokenInfo(token, user, now, now + lifetime, self.scopes)
        self.tokens[token] = info
        return info


# --------------------------------------------------------------------------- one call


@dataclass(slots=True)
class GraphCall:
    request: Request
    sandbox: Sandbox
    store: Store
    platform: str
    state: Any
    now: float
    params: dict[str, Any]
    files: dict[str, UploadFile]
    token: TokenInfo | None
    headers: dict[str, str]
    base: str  # this platform's base URL in the sandbox (no version)
    hold_seconds: float = 0.0
    pending_hold: float = 0.0

    def json(self, payload: Any, status: int = 200) -> Response:
        return Response(
            json_bytes(payload), status_code=status, headers=self.headers, media_type=JSON
        )

    def arg(self, name: str) -> str | None:
        value = self.params.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str):
            return str(value)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.params.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("true", "1")

    def fields(self, default: tuple[str, ...]) -> list[str]:
        """The requested fields, split at the commas between them but not inside a field's
        modifiers or sub-fields (``comments.limit(0).summary(true)``, ``comments{message,id}``)."""
        raw = self.arg("fields")
        if not raw:
            return list(default)
        found: list[str] = []
        depth, start = 0, 0
        for i, char in enumerate(raw + ","):
            if char in "({":
                depth += 1
            elif char in ")}":
                depth = max(0, depth - 1)
            elif char == "," and depth == 0:
                if raw[start:i].strip():
                    found.append(raw[start:i].strip())
                start = i + 1
        return found

    def structured(self, name: str) -> Any:
        value = self.params.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def commit(self) -> None:
        """Something was created: a pending timeout_after_commit now holds the answer."""
        self.hold_seconds = self.pending_hold

    @property
    def user(self) -> str:
        assert self.token is not None
        return self.token.user

    def require_permission(self, error: GraphError) -> None:
        """A token starting with ``noperm`` lacks the publishing permission."""
        if self.token is not None and self.token.token.startswith("noperm"):
            raise error


Handler = Callable[[GraphCall, dict[str, str]], Awaitable[Response]]


@dataclass(slots=True)
class _Entry:
    method: str
    pattern: tuple[str, ...]
    handler: Handler
    auth: bool


class Router:
    """Endpoints by method and path pattern: literal segments, ``{name}`` for any segment and
    ``{name:id}`` for a numeric id."""

    def __init__(self) -> None:
        self.entries: list[_Entry] = []

    def add(self, method: str, path: str, handler: Handler, *, auth: bool = True) -> None:
        pattern = tuple(p for p in path.strip("/").split("/") if p)
        self.entries.append(_Entry(method, pattern, handler, auth))

    def match(self, method: str, segments: list[str]) -> tuple[_Entry, dict[str, str]] | None:
        for entry in self.entries:
            if entry.method != method or len(entry.pattern) != len(segments):
                continue
            values: dict[str, str] = {}
            for part, segment in zip(entry.pattern, segments, strict=True):
                if part.startswith("{") and part.endswith("}"):
                    name, _, kind = part[1:-1].partition(":")
                    if kind == "id" and not _ID_RE.match(segment):
                        break
                    values[name] = segment
                elif part != segment:
                    break
            else:
                return entry, values
        return None


async def _read_params(request: Request) -> tuple[dict[str, Any], dict[str, UploadFile]]:
    params: dict[str, Any] = {}
    files: dict[str, UploadFile] = {}
    for name, value in request.query_params.multi_items():
        params[name] = value
    content_type = request.headers.get("content-type", "").lower()
    if "json" in content_type:
        body = await request.body()
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                raise invalid_parameter("(#100) Invalid JSON in the request body") from None
            if isinstance(data, dict):
                params.update(data)
    elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        try:
            form = await request.form(max_part_size=_MAX_FORM_PART)
        except HTTPException:
            raise invalid_parameter("(#100) Could not read the request body") from None
        for name, value in form.multi_items():
            if isinstance(value, str):
                params[name] = value
            else:
                files[name] = value
    return params, files


def _bearer(request: Request, params: dict[str, Any]) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() in ("bearer", "oauth"):
            return value.strip()
    token = params.get("access_token")
    return str(token) if token is not None else None


def _session_date(ts: float) -> str:
    """Facebook's "Tuesday, 10-Dec-24 10:00:00 PST" style, in UTC."""
    return datetime.fromtimestamp(ts, UTC).strftime("%A, %d-%b-%y %H:%M:%S UTC")


def check_token(store: Store, platform: str, state: GraphState, raw: str | None,
                now: float) -> TokenInfo:  # fmt: skip
    if raw is None:
        raise GraphError(104, "An access token is required to request this resource.")
    token = raw.strip()
    if not token or len(token) > 2048 or any(c.isspace() for c in token):
        raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
    if token.startswith("revoked") or store.is_revoked(platform, token):
        raise GraphError(
            190,
            "Error validating access token: The session has been invalidated because the user "
            "changed their password or Facebook has changed the session for security reasons.",
            subcode=460,
        )
    info = state.token(token, now)
    ended = info.expires_at is not None and info.expires_at <= now
    if token.startswith("expired") or ended or token in store.expired.get(platform, ()):
        at = info.expires_at if ended and info.expires_at is not None else now - 3600
        raise GraphError(
            190,
            f"Error validating access token: Session has expired on {_session_date(at)}. "
            f"The current time is {_session_date(now)}.",
            subcode=463,
        )
    return info


# --------------------------------------------------------------------------- usage and faults


def _usage_percent(store: Store, platform: str, account: str, now: float) -> tuple[int, float]:
    limit = store.limit_for(platform, "calls")
    budget = limit.limit if limit is not None else CALL_BUDGET
    window = limit.window_seconds if limit is not None else 3600
    count, reset_at = store.windows.count(
        (platform, "calls", account), Limit(budget, window), now
    )
    return min(100, math.ceil(count * 100 / budget)), reset_at


def usage_headers(
    platform: str, account: str, percent: int, regain_minutes: int, buc_type: str | None
) -> dict[str, str]:
    app = {"call_count": percent, "total_cputime": percent // 2, "total_time": percent // 2}
    headers = {"X-App-Usage": json.dumps(app, separators=(",", ":"))}
    if buc_type is not None and _ID_RE.match(account):
        buc = {
            account: [
                {
                    "type": buc_type,
                    "call_count": percent,
                    "total_cputime": percent // 2,
                    "total_time": percent // 2,
                    "estimated_time_to_regain_access": regain_minutes,
                }
            ]
        }
        headers["X-Business-Use-Case-Usage"] = json.dumps(buc, separators=(",", ":"))
    return headers


@dataclass(frozen=True, slots=True)
class RateLimitShape:
    """How a platform says "slow down" (the injected 429 and a configured ``calls`` limit)."""

    code: int
    message: str
    buc_type: str | None  # X-Business-Use-Case-Usage "type", None when the header is not sent
    subcode: int | None = None


def count_call(call: GraphCall, account: str, shape: RateLimitShape) -> None:
    """Count this call against the account's ``calls`` limit (if configured) and set the usage
    headers; raise the platform's rate-limit error past the limit."""
    store = call.store
    limit = store.limit_for(call.platform, "calls")
    if limit is not None:
        key = (call.platform, "calls", account)
        count, reset_at = store.windows.hit(key, limit, call.now)
        if count > limit.limit:
            store.windows.undo(key)
            call.sandbox.metrics.rate_limited.labels(call.platform).inc()
            minutes = max(1, math.ceil((reset_at - call.now) / 60))
            raise GraphError(
                shape.code, shape.message, subcode=shape.subcode, is_transient=True,
                headers=usage_headers(call.platform, account, 100, minutes, shape.buc_type),
            )  # fmt: skip
    percent, _ = _usage_percent(store, call.platform, account, call.now)
    call.headers.update(usage_headers(call.platform, account, percent, 0, shape.buc_type))


async def fault(call: GraphCall, account: str | None, shape: RateLimitShape) -> None:
    """Apply the fault configuration to this write call: raise the injected error (Graph-shaped
    where Meta answers JSON), or arm ``pending_hold`` for timeout_after_commit."""
    decision = call.sandbox.faults.decide(call.platform, account)
    if decision is None:
        return
    if decision.latency > 0:
        await asyncio.sleep(decision.latency)
    kind = decision.kind
    if kind == "ok":
        return
    call.sandbox.fault_injected(call.platform, kind)
    log.debug("fault_injected", platform=call.platform, kind=kind, account=account)
    if kind == "timeout_after_commit":
        call.pending_hold = decision.timeout_seconds
        return
    if kind == "timeout":
        await asyncio.sleep(decision.timeout_seconds)
        raise Injected(nginx_error_page(504))
    if kind == "429":
        minutes = max(1, math.ceil(decision.retry_after / 60))
        raise GraphError(
            shape.code, shape.message, subcode=shape.subcode, is_transient=True,
            headers=usage_headers(call.platform, account or "", 100, minutes, shape.buc_type),
        )  # fmt: skip
    if kind == "500":
        raise GraphError(
            1, "An unknown error occurred", status=500, is_transient=True,
            user_title="Unknown error", user_msg="An unknown error occurred. Please try again.",
        )  # fmt: skip
    if kind == "503":
        raise GraphError(2, "Service temporarily unavailable", status=503, is_transient=True)
    if kind in ERROR_CODES:
        raise Injected(nginx_error_page(int(kind)))
    # Kinds this platform does not model (a dropped connection): a gateway error, nothing kept.
    raise Injected(nginx_error_page(502))


# --------------------------------------------------------------------------- media by URL


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    kind: str  # image | video | unknown
    mime: str
    size: int | None
    ok: bool  # False: the URL could not be downloaded


def fetch(url: str) -> Fetched:
    """What Meta's crawler would find at ``url``. The sandbox's own samples are known without a
    request (an unknown sample name is a failed download); other URLs are taken on trust."""
    own = samples.from_url(url)
    if own is not None:
        name, sample = own
        if sample is None:
            return Fetched(url, "unknown", "application/octet-stream", None, False)
        return Fetched(url, sample.kind, sample.content_type, len(sample.data), True)
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    mime = guess_mime(None, name)
    major = mime.split("/", 1)[0]
    return Fetched(url, major if major in ("image", "video") else "unknown", mime, None, True)


def is_url(value: str | None) -> bool:
    return bool(value) and value.lower().startswith(("http://", "https://"))  # type: ignore[union-attr]


# --------------------------------------------------------------------------- containers


@dataclass
class Container:
    """An Instagram or Threads publishing container."""

    id: str
    owner: str
    media_type: str  # IMAGE VIDEO REELS STORIES CAROUSEL TEXT
    text: str
    media: list[dict[str, Any]]
    children: list[str]
    is_carousel_item: bool
    created_at: float
    ready_at: float
    error: str | None = None  # the status text / error_message once it fails
    published_id: str | None = None
    published_at: float | None = None

    def status(self, now: float, lookup: Callable[[str], Container | None]) -> str:
        if self.published_id is not None:
            return "PUBLISHED"
        if now >= self.created_at + CONTAINER_LIFETIME:
            return "EXPIRED"
        if self.error is not None and now >= self.ready_at:
            return "ERROR"
        if self.children:
            states = [c.status(now, lookup) if c else "ERROR" for c in map(lookup, self.children)]
            if "ERROR" in states or "EXPIRED" in states:
                return "ERROR"
            if "IN_PROGRESS" in states or now < self.ready_at:
                return "IN_PROGRESS"
            return "FINISHED"
        return "IN_PROGRESS" if now < self.ready_at else "FINISHED"

    def failed_child(self, now: float, lookup: Callable[[str], Container | None]) -> str | None:
        for child in map(lookup, self.children):
            if child is not None and child.status(now, lookup) in ("ERROR", "EXPIRED"):
                return child.error or "EXPIRED"
        return None


# --------------------------------------------------------------------------- publishing quota


def quota_usage(store: Store, platform: str, times: list[float], now: float) -> tuple[int, int, int]:
    """(used, total, duration) of a rolling publishing quota; drops times that left the window."""
    limit = store.limit_for(platform, "publishing")
    assert limit is not None
    cutoff = now - limit.window_seconds
    while times and times[0] <= cutoff:
        times.pop(0)
    return len(times), limit.limit, limit.window_seconds


# --------------------------------------------------------------------------- formats


def graph_time(ts: float) -> str:
    """Graph's timestamps: ``2025-01-31T08:00:00+0000``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


_SHORTCODE = string.ascii_letters + string.digits + "-_"


def shortcode(media_id: str) -> str:
    """An Instagram-style shortcode for a numeric id."""
    number = int(media_id)
    out = []
    while number:
        number, digit = divmod(number, 64)
        out.append(_SHORTCODE[digit])
    return "".join(reversed(out)) or "A"


def paged(call: GraphCall, items: list[dict[str, Any]], path: str) -> dict[str, Any]:
    """A Graph list with cursor paging (``limit`` and ``after``)."""
    try:
        limit = max(1, min(100, int(call.arg("limit") or 25)))
    except ValueError:
        limit = 25
    start = 0
    after = call.arg("after")
    if after:
        try:
            start = int(bytes.fromhex(after).decode())
        except ValueError:
            start = 0
    page = items[start : start + limit]
    body: dict[str, Any] = {"data": page}
    if page:
        cursors = {
            "before": str(start).encode().hex(),
            "after": str(start + len(page)).encode().hex(),
        }
        body["paging"] = {"cursors": cursors}
        if start + limit < len(items):
            body["paging"]["next"] = (
                f"{call.base}/{path}?limit={limit}&after={cursors['after']}"
                f"&fields={quote(call.arg('fields') or '')}"
            )
    return body


def insights_body(object_id: str, values: dict[str, int], period: str = "lifetime",
                  titles: dict[str, str] | None = None, total_value: bool = False) -> dict[str, Any]:  # fmt: skip
    data = []
    for name, value in values.items():
        entry: dict[str, Any] = {"name": name, "period": period}
        if total_value:
            entry["title"] = (titles or {}).get(name, name)
            entry["description"] = (titles or {}).get(name, name)
            entry["total_value"] = {"value": value}
        else:
            entry["values"] = [{"value": value}]
            entry["title"] = (titles or {}).get(name, name)
            entry["description"] = (titles or {}).get(name, name)
        entry["id"] = f"{object_id}/insights/{name}/{period}"
        data.append(entry)
    return {"data": data}


def metric_list(call: GraphCall) -> list[str]:
    raw = call.arg("metric")
    if not raw:
        raise missing_parameter("metric")
    return [m.strip() for m in raw.split(",") if m.strip()]


def debug_token_body(
    call: GraphCall, graph: GraphState, application: str, user_id: Callable[[str], str]
) -> dict[str, Any]:
    """``GET /debug_token?input_token=``: what the platform knows about a token."""
    raw = call.arg("input_token")
    if not raw:
        raise missing_parameter("input_token")
    data: dict[str, Any] = {"app_id": "1234567890123456", "type": "USER",
                            "application": application}  # fmt: skip
    try:
        info = check_token(call.store, call.platform, graph, raw, call.now)
    except GraphError as exc:
        data.update({"is_valid": False, "scopes": [],
                     "error": {"code": exc.code, "message": exc.message,
                               "subcode": exc.subcode}})  # fmt: skip
        return {"data": data}
    expires = int(info.expires_at) if info.expires_at is not None else 0
    data.update({
        "data_access_expires_at": int(info.issued_at + 90 * 86_400),
        "expires_at": expires, "is_valid": True, "issued_at": int(info.issued_at),
        "scopes": list(info.scopes), "user_id": user_id(info.user),
    })  # fmt: skip
    return {"data": data}



# --------------------------------------------------------------------------- the endpoint


def routes(
    platform: str,
    router: Router,
    state_factory: Callable[[Any], Any],
    account_of: Callable[[GraphCall, dict[str, str]], str],
    shape: RateLimitShape,
) -> list[BaseRoute]:
    """The Starlette routes of one Graph host: every path goes through ``router``.
    ``account_of`` names the account a call counts against (X-App-Usage, ``calls`` limits)."""
    methods = ["GET", "POST", "DELETE"]

    async def endpoint(request: Request) -> Response:
        sandbox = sandbox_of(request)
        store = sandbox.store
        state = store.state_of(platform, state_factory)
        now = store.now()
        segments = [s for s in request.path_params.get("path", "").split("/") if s]
        if segments and _VERSION_RE.match(segments[0]):
            segments = segments[1:]
        url = request.url
        base = f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}"
        headers: dict[str, str] = {"x-fb-trace-id": fbtrace_id()[:11]}
        try:
            params, files = await _read_params(request)
            matched = router.match(request.method, segments)
            if matched is None:
                if segments and _ID_RE.match(segments[0]):
                    raise no_object(segments[0], request.method.lower())
                raise GraphError(2500, f"Unknown path components: /{'/'.join(segments)}")
            entry, values = matched
            token = None
            if entry.auth:
                token = check_token(
                    store, platform, state.graph, _bearer(request, params), now
                )
            call = GraphCall(
                request=request, sandbox=sandbox, store=store, platform=platform, state=state,
                now=now, params=params, files=files, token=token, headers=headers, base=base,
            )  # fmt: skip
            if token is not None:
                count_call(call, account_of(call, values), shape)
            try:
                response = await entry.handler(call, values)
            except GraphError as exc:
                response = exc.response(call.headers)
        except GraphError as exc:
            return exc.response(headers)
        except Injected as injected:
            return injected.response
        if call.hold_seconds > 0:
            # timeout_after_commit: the object exists; answer later than the client waits.
            await asyncio.sleep(call.hold_seconds)
        return response

    return [Route("/{path:path}", endpoint, methods=methods)]


def age(now: float, since: float | None) -> float:
    return 0.0 if since is None else max(0.0, now - since)

"""An imitation of a Bluesky PDS (AT Protocol XRPC), mounted under ``/bluesky``: the base URL of
an account is its PDS (``https://bsky.social`` in real life).

Endpoints under ``/xrpc/``: ``com.atproto.server.createSession``, ``.refreshSession``,
``.getSession``, ``com.atproto.repo.uploadBlob``, ``.createRecord`` (with a client-chosen
``rkey``), ``.getRecord``, ``com.atproto.identity.resolveHandle``, ``app.bsky.feed.getPosts`` and
``app.bsky.actor.getProfile`` (the PDS proxies these to the AppView in real life).

Sessions: ``createSession`` takes a handle (``library`` means ``library.bsky.social``) and any
app password, except one starting with ``wrong`` or revoked through the control API (401
``AuthenticationRequired``); a handle starting with ``takendown`` gets 400 ``AccountTakedown``.
``accessJwt`` (HS256, 2 hours) and ``refreshJwt`` (90 days) are real JWTs; ``refreshSession``
rotates the refresh token (a used one gets 400 ``ExpiredToken`` "Token has been revoked"). An
expired access token gets 400 ``ExpiredToken`` "Token has expired" (``PUT /_sandbox/clock`` or
``POST /_sandbox/tokens/expire`` make it so).

Errors are XRPC's ``{"error": <name>, "message": …}``; ``RateLimit-Limit/-Remaining/-Reset``
(epoch seconds) and ``RateLimit-Policy`` come with every write, ``Retry-After`` with a 429
``RateLimitExceeded``. ``app.bsky.feed.post`` records are validated (300 graphemes and 3,000
bytes, facets' UTF-8 byte ranges, ≤4 images of ≤2,000,000 bytes or one MP4 video, known blobs).
A ``createRecord`` whose ``rkey`` already holds a record fails as the reference PDS does (the
repository's tree refuses a second value at a key: 500 ``InternalServerError``); ``getRecord``
then shows what is there. Post and profile counts grow with time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from siar_platforms import grapheme_length
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .apikit import (
    DroppedConnection,
    Fault,
    audience,
    b64url,
    bearer,
    decide,
    grown,
    held,
    token_expired,
)
from .context import Sandbox, sandbox_of
from .mediainfo import sniff_mime
from .responses import json_bytes, nginx_error_page
from .store import Post, Store, stable_number

PLATFORM = "bluesky"
JSON = "application/json; charset=utf-8"
ACCESS_SECONDS = 2 * 3_600
REFRESH_SECONDS = 90 * 86_400
POST = "app.bsky.feed.post"
MAX_GRAPHEMES, MAX_TEXT_BYTES = 300, 3_000
MAX_IMAGE_BYTES, MAX_VIDEO_BYTES, MAX_BLOB_BYTES = 2_000_000, 300_000_000, 300_000_000
S32 = "234567abcdefghijklmnopqrstuvwxyz"
_TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_RKEY_RE = re.compile(r"^[A-Za-z0-9._:~-]{1,512}$")
_HANDLE_RE = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")

log = structlog.get_logger("siar_sandbox.bluesky")


# --------------------------------------------------------------------------- state


@dataclass(slots=True)
class Blob:
    cid: str
    mime: str
    size: int


@dataclass(slots=True)
class Record:
    uri: str
    cid: str
    rkey: str
    value: dict[str, Any]
    indexed_at: float


@dataclass(slots=True)
class BskyAccount:
    did: str
    handle: str
    created_at: float
    records: dict[str, Record] = field(default_factory=dict)  # app.bsky.feed.post by rkey
    blobs: dict[str, Blob] = field(default_factory=dict)


class BlueskyState:
    def __init__(self, settings: Any) -> None:
        self.secret = secrets.token_bytes(32)
        self.accounts: dict[str, BskyAccount] = {}
        self.by_handle: dict[str, str] = {}
        self.used_refresh: set[str] = set()
        self.last_tid = 0

    def account(self, handle: str) -> BskyAccount:
        did = self.by_handle.get(handle)
        if did is None:
            digest = hashlib.sha256(("bsky:" + handle).encode()).digest()
            did = "did:plc:" + base64.b32encode(digest).decode().lower()[:24]
            self.accounts[did] = BskyAccount(did, handle, 1_704_067_200.0)
            self.by_handle[handle] = did
        return self.accounts[did]

    def tid(self, now: float) -> str:
        micros = int(now * 1_000_000)
        if micros <= self.last_tid:
            micros = self.last_tid + 1
        self.last_tid = micros
        return encode_tid(micros, stable_number("sandbox-clock", 1024))


def encode_tid(micros: int, clock_id: int) -> str:
    value = (micros << 10) | (clock_id & 0x3FF)
    out = []
    for _ in range(13):
        out.append(S32[value & 31])
        value >>= 5
    return "".join(reversed(out))


def state_of(sandbox: Sandbox) -> BlueskyState:
    return sandbox.store.state_of(PLATFORM, BlueskyState)


def normal_handle(identifier: str) -> str:
    handle = identifier.strip().lower().lstrip("@")
    return handle if "." in handle else f"{handle}.bsky.social"


# --------------------------------------------------------------------------- JWTs


def _jwt(state: BlueskyState, typ: str, payload: dict[str, Any]) -> str:
    header = b64url(json.dumps({"typ": typ, "alg": "HS256"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(state.secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(signature)}"


def _decode(state: BlueskyState, token: str) -> dict[str, Any] | None:
    try:
        header, body, signature = token.split(".")
        expected = hmac.new(state.secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(b64url(expected), signature):
            return None
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError):
        return None
    return payload if isinstance(payload, dict) else None


def _session(state: BlueskyState, account: BskyAccount, now: float) -> dict[str, Any]:
    aud = "did:web:sandbox.bsky.invalid"
    access = _jwt(state, "at+jwt", {"scope": "com.atproto.appPass", "sub": account.did, "aud": aud,
                                    "iat": int(now), "exp": int(now + ACCESS_SECONDS),
                                    "jti": secrets.token_urlsafe(12)})  # fmt: skip
    refresh = _jwt(state, "refresh+jwt", {"scope": "com.atproto.refresh", "sub": account.did, "aud": aud,
                                          "jti": secrets.token_urlsafe(24), "iat": int(now),
                                          "exp": int(now + REFRESH_SECONDS)})  # fmt: skip
    return {"accessJwt": access, "refreshJwt": refresh, "handle": account.handle, "did": account.did,
            "email": f"{account.handle.split('.')[0]}@example.org", "emailConfirmed": True,
            "emailAuthFactor": False, "active": True}  # fmt: skip


# --------------------------------------------------------------------------- answers


def xrpc_error(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json_bytes({"error": name, "message": message}), status_code=status, headers=headers,
                    media_type=JSON)  # fmt: skip


def _json(payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json_bytes(payload), status_code=200, headers=headers, media_type=JSON)


def _rate_headers(limit: int, remaining: int, reset_at: float, window: int) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(max(0, remaining)),
        "RateLimit-Reset": str(int(math.ceil(reset_at))),
        "RateLimit-Policy": f"{limit};w={window}",
    }


def _fault_response(fault: Fault, headers: dict[str, str], now: float) -> Response | None:
    kind = fault.kind
    if kind in ("ok", "timeout_after_commit"):
        return None
    if kind == "interrupt":
        return DroppedConnection()
    if kind == "timeout":
        return nginx_error_page(504)
    if kind == "429":
        throttled = dict(headers)
        throttled["RateLimit-Remaining"] = "0"
        throttled["RateLimit-Reset"] = str(int(math.ceil(now + fault.retry_after)))
        throttled["Retry-After"] = str(fault.retry_after)
        return xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded", throttled)
    if kind == "500":
        return xrpc_error(500, "InternalServerError", "Internal Server Error", headers)
    if kind == "503":
        return xrpc_error(503, "NotEnoughResources", "Service Unavailable", headers)
    return nginx_error_page(int(kind))


@dataclass(slots=True)
class Api:
    request: Request
    sandbox: Sandbox
    state: BlueskyState
    store: Store
    now: float
    account: BskyAccount
    headers: dict[str, str] = field(default_factory=dict)


def _authenticate(request: Request, state: BlueskyState, store: Store, refresh: bool = False
                  ) -> tuple[BskyAccount | None, Response | None, dict[str, Any]]:  # fmt: skip
    token = bearer(request)
    if token is None:
        return None, xrpc_error(401, "AuthMissing", "Authentication Required"), {}
    payload = _decode(state, token)
    if payload is None:
        return None, xrpc_error(400, "InvalidToken", "Token could not be verified"), {}
    scope = payload.get("scope")
    if refresh != (scope == "com.atproto.refresh"):
        return None, xrpc_error(400, "InvalidToken", "Invalid token type"), {}
    if store.is_revoked(PLATFORM, token):
        return None, xrpc_error(400, "ExpiredToken", "Token has been revoked"), {}
    if token_expired(store, PLATFORM, token) or store.now() >= payload.get("exp", 0):
        return None, xrpc_error(400, "ExpiredToken", "Token has expired"), {}
    account = state.accounts.get(str(payload.get("sub")))
    if account is None:
        return None, xrpc_error(400, "InvalidToken", "Token could not be verified"), {}
    return account, None, payload


def api(write: bool = False):  # noqa: ANN201 - decorator
    def wrap(handler):  # noqa: ANN001, ANN202
        async def endpoint(request: Request) -> Response:
            sandbox = sandbox_of(request)
            store = sandbox.store
            state = state_of(sandbox)
            account, refused, _ = _authenticate(request, state, store)
            if refused is not None:
                return refused
            assert account is not None
            now = store.now()
            ctx = Api(request, sandbox, state, store, now, account)
            if write:
                limit = store.limit_for(PLATFORM, "account")
                assert limit is not None
                key = (PLATFORM, "account", account.did)
                used, reset_at = store.windows.hit(key, limit, now)
                ctx.headers = _rate_headers(limit.limit, limit.limit - used, reset_at, limit.window_seconds)
                if used > limit.limit:
                    store.windows.undo(key)
                    sandbox.metrics.rate_limited.labels(PLATFORM).inc()
                    headers = dict(ctx.headers)
                    headers["Retry-After"] = str(max(1, int(math.ceil(reset_at - now))))
                    return xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers)
            return await handler(ctx)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


async def _body(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


# --------------------------------------------------------------------------- sessions


async def create_session(request: Request) -> Response:
    sandbox = sandbox_of(request)
    store = sandbox.store
    state = state_of(sandbox)
    body = await _body(request)
    if body is None or not isinstance(body.get("identifier"), str) or not isinstance(body.get("password"), str):
        return xrpc_error(400, "InvalidRequest", "Input must have the properties \"identifier\", \"password\"")
    handle = normal_handle(body["identifier"])
    password = body["password"]
    now = store.now()
    limit = store.limit_for(PLATFORM, "session")
    if limit is not None:
        used, reset_at = store.windows.hit((PLATFORM, "session", handle), limit, now)
        if used > limit.limit:
            headers = _rate_headers(limit.limit, 0, reset_at, limit.window_seconds)
            headers["Retry-After"] = str(max(1, int(math.ceil(reset_at - now))))
            return xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers)
    if not _HANDLE_RE.match(handle) or not password or password.startswith("wrong") or store.is_revoked(PLATFORM, password):
        return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
    if handle.startswith("takendown"):
        return xrpc_error(400, "AccountTakedown", "Account has been taken down")
    return _json(_session(state, state.account(handle), now))


async def refresh_session(request: Request) -> Response:
    sandbox = sandbox_of(request)
    store = sandbox.store
    state = state_of(sandbox)
    account, refused, payload = _authenticate(request, state, store, refresh=True)
    if refused is not None:
        return refused
    assert account is not None
    jti = str(payload.get("jti"))
    if jti in state.used_refresh:
        return xrpc_error(400, "ExpiredToken", "Token has been revoked")
    state.used_refresh.add(jti)
    session = _session(state, account, store.now())
    return _json({k: session[k] for k in ("accessJwt", "refreshJwt", "handle", "did", "active")})


@api()
async def get_session(ctx: Api) -> Response:
    return _json({"handle": ctx.account.handle, "did": ctx.account.did,
                  "email": f"{ctx.account.handle.split('.')[0]}@example.org", "emailConfirmed": True,
                  "active": True})  # fmt: skip


# --------------------------------------------------------------------------- repository


def _cid(prefix: str, data: bytes) -> str:
    return prefix + base64.b32encode(hashlib.sha256(data).digest()).decode().lower().rstrip("=")


@api(write=True)
async def upload_blob(ctx: Api) -> Response:
    data = await ctx.request.body()
    if len(data) > MAX_BLOB_BYTES:
        return xrpc_error(400, "BlobTooLarge", f"This file is too large. It is {len(data)} bytes but the "
                          f"maximum size is {MAX_BLOB_BYTES} bytes.", ctx.headers)  # fmt: skip
    fault = await decide(ctx.sandbox, PLATFORM, ctx.account.handle)
    injected = _fault_response(fault, ctx.headers, ctx.now)
    if injected is not None:
        return injected
    declared = (ctx.request.headers.get("content-type") or "").split(";")[0].strip().lower()
    mime = sniff_mime(data[:64]) or declared or "application/octet-stream"
    cid = _cid("bafkrei", data)
    ctx.account.blobs[cid] = Blob(cid, mime, len(data))
    blob = {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}
    return await held(_json({"blob": blob}, ctx.headers), fault)


def graphemes(text: str) -> int:
    """Unicode extended grapheme clusters (UAX #29), as the PDS counts ``maxGraphemes``: a flag,
    a ZWJ family, a Devanagari conjunct with its vowel sign or a Javanese syllable is one
    (siar_platforms.grapheme_length, the count Siar checks before sending)."""
    return grapheme_length(text)


def _blob_ref(account: BskyAccount, value: Any, pointer: str) -> tuple[Blob | None, str | None]:
    link = ((value or {}).get("ref") or {}).get("$link") if isinstance(value, dict) else None
    if not isinstance(link, str):
        return None, f"{pointer} should be a blob ref"
    blob = account.blobs.get(link)
    if blob is None:
        return None, f"Could not find blob: {link}"
    return blob, None


def _validate_post(account: BskyAccount, record: dict[str, Any]) -> str | None:
    prefix = "Invalid app.bsky.feed.post record: "
    if record.get("$type") != POST:
        return f"{prefix}Record/$type must be {POST}"
    text = record.get("text")
    if not isinstance(text, str):
        return f'{prefix}Record must have the property "text"'
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_TEXT_BYTES:
        return f"{prefix}Record/text must not be longer than {MAX_TEXT_BYTES} characters"
    if graphemes(text) > MAX_GRAPHEMES:
        return f"{prefix}Record/text must not be longer than {MAX_GRAPHEMES} graphemes"
    created = record.get("createdAt")
    try:
        datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return f"{prefix}Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)"
    for i, facet in enumerate(record.get("facets") or []):
        index = facet.get("index") if isinstance(facet, dict) else None
        start = (index or {}).get("byteStart")
        end = (index or {}).get("byteEnd")
        if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start <= end <= len(encoded):
            return f"{prefix}Record/facets/{i}/index must be a byte range within the text"
        for j, feature in enumerate(facet.get("features") or []):
            kind = feature.get("$type") if isinstance(feature, dict) else None
            needed = {"app.bsky.richtext.facet#link": "uri", "app.bsky.richtext.facet#mention": "did",
                      "app.bsky.richtext.facet#tag": "tag"}.get(kind or "")  # fmt: skip
            if needed is None or not isinstance(feature.get(needed), str):
                return f"{prefix}Record/facets/{i}/features/{j} is invalid"
    embed = record.get("embed")
    if embed is not None:
        kind = embed.get("$type") if isinstance(embed, dict) else None
        if kind == "app.bsky.embed.images":
            images = embed.get("images")
            if not isinstance(images, list) or not 1 <= len(images) <= 4:
                return f"{prefix}Record/embed/images must contain 1 to 4 images"
            for i, image in enumerate(images):
                if not isinstance(image, dict) or not isinstance(image.get("alt"), str):
                    return f'{prefix}Record/embed/images/{i} must have the property "alt"'
                blob, problem = _blob_ref(account, image.get("image"), f"Record/embed/images/{i}/image")
                if problem:
                    return problem if problem.startswith("Could not") else prefix + problem
                assert blob is not None
                if not blob.mime.startswith("image/"):
                    return f"{prefix}Record/embed/images/{i}/image mimeType is not accepted"
                if blob.size > MAX_IMAGE_BYTES:
                    return f"{prefix}Record/embed/images/{i}/image file too big (max {MAX_IMAGE_BYTES} bytes)"
        elif kind == "app.bsky.embed.video":
            blob, problem = _blob_ref(account, embed.get("video"), "Record/embed/video")
            if problem:
                return problem if problem.startswith("Could not") else prefix + problem
            assert blob is not None
            if blob.mime != "video/mp4":
                return f"{prefix}Record/embed/video mimeType is not accepted (video/mp4 only)"
            if blob.size > MAX_VIDEO_BYTES:
                return f"{prefix}Record/embed/video file too big (max {MAX_VIDEO_BYTES} bytes)"
        elif kind != "app.bsky.embed.external":
            return f"{prefix}Record/embed has an unknown $type"
    return None


def _resolve_repo(state: BlueskyState, repo: str | None) -> BskyAccount | None:
    if not repo:
        return None
    if repo.startswith("did:"):
        return state.accounts.get(repo)
    did = state.by_handle.get(normal_handle(repo))
    return state.accounts.get(did) if did else None


@api(write=True)
async def create_record(ctx: Api) -> Response:
    body = await _body(ctx.request)
    if body is None:
        return xrpc_error(400, "InvalidRequest", "Request body must be JSON", ctx.headers)
    for name in ("repo", "collection", "record"):
        if name not in body:
            return xrpc_error(400, "InvalidRequest", f'Input must have the property "{name}"', ctx.headers)
    if _resolve_repo(ctx.state, str(body["repo"])) is not ctx.account:
        return xrpc_error(401, "AuthRequired", "Input/repo must be the repository of the session", ctx.headers)
    if body["collection"] != POST or not isinstance(body["record"], dict):
        return xrpc_error(400, "InvalidRequest", f"The sandbox stores {POST} records only", ctx.headers)
    rkey = body.get("rkey")
    if rkey is not None and (not isinstance(rkey, str) or not _RKEY_RE.match(rkey) or not _TID_RE.match(rkey)):
        return xrpc_error(400, "InvalidRequest", f"Invalid record key: {rkey!r} is not a TID", ctx.headers)
    problem = _validate_post(ctx.account, body["record"])
    if problem:
        return xrpc_error(400, "InvalidRequest", problem, ctx.headers)
    fault = await decide(ctx.sandbox, PLATFORM, ctx.account.handle)
    now = ctx.store.now()
    injected = _fault_response(fault, ctx.headers, now)
    if injected is not None:
        return injected
    rkey = rkey or ctx.state.tid(now)
    if rkey in ctx.account.records:
        # The reference PDS: the MST refuses a second value at a key ("There is already a value
        # at key"), which XRPC reports as an internal error.
        return xrpc_error(500, "InternalServerError", "Internal Server Error", ctx.headers)
    record = body["record"]
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    cid = _cid("bafyrei", canonical)
    uri = f"at://{ctx.account.did}/{POST}/{rkey}"
    ctx.account.records[rkey] = Record(uri, cid, rkey, record, now)
    media = []
    embed = record.get("embed") or {}
    for image in embed.get("images") or []:
        blob = ctx.account.blobs[image["image"]["ref"]["$link"]]
        media.append({"type": "image", "cid": blob.cid, "mime_type": blob.mime, "alt": image.get("alt")})
    if embed.get("$type") == "app.bsky.embed.video":
        blob = ctx.account.blobs[embed["video"]["ref"]["$link"]]
        media.append({"type": "video", "cid": blob.cid, "mime_type": blob.mime, "alt": embed.get("alt")})
    ctx.store.record_post(
        Post(
            platform=PLATFORM,
            account=ctx.account.handle,
            id=uri,
            text=record["text"],
            media=media,
            idempotency_key=rkey,
            received_at=now,
            url=f"https://bsky.app/profile/{ctx.account.handle}/post/{rkey}",
        )
    )
    ctx.sandbox.metrics.posts_accepted.labels(PLATFORM).inc()
    answer = {"uri": uri, "cid": cid, "commit": {"cid": _cid("bafyrei", cid.encode() + b"commit"),
                                                 "rev": ctx.state.tid(now)},
              "validationStatus": "valid"}  # fmt: skip
    return await held(_json(answer, ctx.headers), fault)


async def get_record(request: Request) -> Response:
    state = state_of(sandbox_of(request))
    q = request.query_params
    account = _resolve_repo(state, q.get("repo"))
    if account is None:
        return xrpc_error(400, "InvalidRequest", f"Could not find repo: {q.get('repo')}")
    uri = f"at://{account.did}/{q.get('collection')}/{q.get('rkey')}"
    record = account.records.get(q.get("rkey", "")) if q.get("collection") == POST else None
    if record is None:
        return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
    return _json({"uri": record.uri, "cid": record.cid, "value": record.value})


async def resolve_handle(request: Request) -> Response:
    state = state_of(sandbox_of(request))
    handle = normal_handle(request.query_params.get("handle", ""))
    if not _HANDLE_RE.match(handle) or handle.startswith("unknown"):
        return xrpc_error(400, "InvalidRequest", "Unable to resolve handle")
    return _json({"did": state.account(handle).did})


# --------------------------------------------------------------------------- AppView


POST_METRICS = {"likeCount": 30, "repostCount": 6, "replyCount": 4, "quoteCount": 1, "bookmarkCount": 3}


def post_counts(record: Record, now: float) -> dict[str, int]:
    age = now - record.indexed_at
    return {name: grown(record.uri, name, age, scale) for name, scale in POST_METRICS.items()}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def _author(account: BskyAccount) -> dict[str, Any]:
    return {"did": account.did, "handle": account.handle,
            "displayName": account.handle.split(".")[0].replace("_", " ").title(),
            "labels": [], "createdAt": _iso(account.created_at)}  # fmt: skip


async def get_posts(request: Request) -> Response:
    sandbox = sandbox_of(request)
    state = state_of(sandbox)
    now = sandbox.store.now()
    uris = request.query_params.getlist("uris")
    if len(uris) > 25:
        return xrpc_error(400, "InvalidRequest", "Input/uris must not have more than 25 elements")
    owner = _resolve_repo(state, uris[0].removeprefix("at://").split("/", 1)[0]) if uris else None
    fault = await decide(sandbox, PLATFORM, owner.handle if owner else None, read=True)
    injected = _fault_response(fault, {}, now)
    if injected is not None:
        return injected
    posts = []
    for uri in uris:
        m = re.match(r"^at://([^/]+)/([^/]+)/([^/]+)$", uri)
        account = _resolve_repo(state, m.group(1)) if m else None
        record = account.records.get(m.group(3)) if account and m and m.group(2) == POST else None
        if record is None or account is None:
            continue
        view = {"uri": record.uri, "cid": record.cid, "author": _author(account), "record": record.value}
        view.update(post_counts(record, now))
        view.update({"indexedAt": _iso(record.indexed_at), "labels": []})
        posts.append(view)
    return await held(_json({"posts": posts}), fault)


def profile_counts(account: BskyAccount, now: float) -> dict[str, int]:
    return {
        "followersCount": audience("bsky:" + account.handle, 900, now - account.created_at, 4),
        "followsCount": 100 + stable_number("bsky-follows:" + account.handle, 400),
        "postsCount": len(account.records),
    }


async def get_profile(request: Request) -> Response:
    sandbox = sandbox_of(request)
    state = state_of(sandbox)
    account = _resolve_repo(state, request.query_params.get("actor"))
    if account is None:
        return xrpc_error(400, "InvalidRequest", "Profile not found")
    fault = await decide(sandbox, PLATFORM, account.handle, read=True)
    injected = _fault_response(fault, {}, sandbox.store.now())
    if injected is not None:
        return injected
    body = _author(account)
    body.update({"description": "Akun sandbox Siar.", "indexedAt": _iso(account.created_at)})
    body.update(profile_counts(account, sandbox.store.now()))
    return await held(_json(body), fault)


async def not_found(request: Request) -> Response:
    return xrpc_error(501, "MethodNotImplemented", "Method Not Implemented")


routes = [
    Route("/xrpc/com.atproto.server.createSession", create_session, methods=["POST"]),
    Route("/xrpc/com.atproto.server.refreshSession", refresh_session, methods=["POST"]),
    Route("/xrpc/com.atproto.server.getSession", get_session, methods=["GET"]),
    Route("/xrpc/com.atproto.repo.uploadBlob", upload_blob, methods=["POST"]),
    Route("/xrpc/com.atproto.repo.createRecord", create_record, methods=["POST"]),
    Route("/xrpc/com.atproto.repo.getRecord", get_record, methods=["GET"]),
    Route("/xrpc/com.atproto.identity.resolveHandle", resolve_handle, methods=["GET"]),
    Route("/xrpc/app.bsky.feed.getPosts", get_posts, methods=["GET"]),
    Route("/xrpc/app.bsky.actor.getProfile", get_profile, methods=["GET"]),
    Route("/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE"]),
]

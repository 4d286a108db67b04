"""An imitation of TikTok's Content Posting, Display and OAuth APIs, mounted under ``/tiktok``
(the real host is ``open.tiktokapis.com``; uploads go to the ``upload_url`` it hands out).

Endpoints: ``POST /v2/post/publish/creator_info/query/``, ``POST /v2/post/publish/video/init/``
(``FILE_UPLOAD`` with ``video_size``/``chunk_size``/``total_chunk_count``, or ``PULL_FROM_URL``),
``PUT <upload_url>`` with ``Content-Range: bytes a-b/TOTAL`` (206 until the last chunk, then 201),
``POST /v2/post/publish/status/fetch/``, ``POST /v2/video/list/``, ``POST /v2/video/query/``,
``GET /v2/user/info/`` and ``POST /v2/oauth/token/`` (rotating refresh tokens).

Every answer is ``{"data": …, "error": {"code": "ok"|<code>, "message", "log_id"}}``. Tokens:
any bearer token belongs to the user named by its part before the first ``.``; it lives 2 hours
from when it is first seen or issued. A token starting with ``revoked``, revoked or expired through
the control API gets 401 ``access_token_invalid``; ``noscope…`` lacks ``video.publish`` (401
``scope_not_authorized``); ``unaudited…`` is an unaudited client that may post ``SELF_ONLY`` only
(403 ``unaudited_client_can_only_post_to_private_accounts``); ``banned…`` gets 403
``spam_risk_user_banned_from_posting``.

Chunks follow the media transfer guide: a video under 5 MB is one chunk; otherwise chunks of
5-64 MB, ``total_chunk_count = video_size // chunk_size`` and the last chunk takes the rest.
Chunks are accepted in order (a chunk sent again is accepted and changes nothing). After the last
byte the post is ``PROCESSING_UPLOAD`` for ``media_processing_seconds`` and then
``PUBLISH_COMPLETE`` (recorded, with ``publicaly_available_post_id``) or ``FAILED``
(``file_format_check_failed`` when the bytes are not a video). ``PULL_FROM_URL`` accepts only the
sandbox's own sample URLs (others: 403 ``url_ownership_unverified``). More than 5 posts still in
progress: 403 ``spam_risk_too_many_pending_share``; the ``posts`` limit (control API) caps posts
per user (403 ``spam_risk_too_many_posts``); the ``token`` limit counts init calls per token (429
``rate_limit_exceeded``). Video and user counts grow with time. Faults configured for reads
(``"calls": "reads"|"all"``) apply to the token endpoint too (a 429 there is
``{"error": "rate_limit_exceeded"}`` with ``Retry-After``)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import samples
from .apikit import (
    DroppedConnection,
    Fault,
    TokenBook,
    audience,
    base_url,
    bearer,
    decide,
    grown,
    held,
    identity,
    log_id,
)
from .context import Sandbox, sandbox_of
from .mediainfo import sniff_mime
from .responses import json_bytes, nginx_error_page
from .store import Post, Store, stable_number

PLATFORM = "tiktok"
JSON = "application/json; charset=UTF-8"
TOKEN_SECONDS = 7_200
REFRESH_SECONDS = 180 * 86_400
MB = 1024 * 1024
MIN_CHUNK, MAX_CHUNK, MAX_LAST_CHUNK, MAX_VIDEO = 5 * MB, 64 * MB, 128 * MB, 4 * 1024 * MB
UPLOAD_URL_SECONDS = 3_600
MAX_PENDING = 5
PRIVACY_LEVELS = ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY"]
_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")

log = structlog.get_logger("siar_sandbox.tiktok")


# --------------------------------------------------------------------------- state


@dataclass(slots=True)
class TikTokUser:
    open_id: str
    username: str
    created_at: float
    video_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Publish:
    id: str
    user: str
    source: str
    title: str
    privacy: str
    created_at: float
    video_size: int = 0
    chunk_size: int = 0
    total_chunks: int = 0
    upload_id: str = ""
    upload_token: str = ""
    sample: str | None = None
    received: bytearray = field(default_factory=bytearray)
    uploaded_at: float | None = None
    done_at: float | None = None
    status: str = "PROCESSING_UPLOAD"
    fail_reason: str | None = None
    video_id: str | None = None
    downloaded: int = 0


@dataclass(slots=True)
class TikTokVideo:
    id: str
    user: str
    title: str
    created_at: float
    publish_id: str
    privacy: str
    size: int


class TikTokState:
    def __init__(self, settings: Any) -> None:
        self.processing_seconds = float(settings.media_processing_seconds)
        self.users: dict[str, TikTokUser] = {}
        self.publishes: dict[str, Publish] = {}
        self.uploads: dict[str, str] = {}
        self.videos: dict[str, TikTokVideo] = {}
        self.tokens = TokenBook(TOKEN_SECONDS)
        self.last_video = 0

    def user(self, username: str) -> TikTokUser:
        found = self.users.get(username)
        if found is None:
            open_id = f"-000{stable_number('tt-open:' + username, 16**4):04x}-{stable_number('tt:' + username, 10**12)}"
            found = TikTokUser(open_id, username, 1_704_067_200.0)
            self.users[username] = found
        return found

    def next_video_id(self, now: float) -> str:
        candidate = 7_000_000_000_000_000_000 + (int(now * 1000) << 10) % 10**18
        if candidate <= self.last_video:
            candidate = self.last_video + 1
        self.last_video = candidate
        return str(candidate)


def state_of(sandbox: Sandbox) -> TikTokState:
    return sandbox.store.state_of(PLATFORM, TikTokState)


# --------------------------------------------------------------------------- answers


def answer(data: Any, status: int = 200, code: str = "ok", message: str = "",
           headers: dict[str, str] | None = None) -> Response:  # fmt: skip
    body = {"data": data if data is not None else {}, "error": {"code": code, "message": message,
                                                                 "log_id": log_id()}}  # fmt: skip
    return Response(json_bytes(body), status_code=status, headers=headers, media_type=JSON)


def failure(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return answer({}, status, code, message, headers)


def _fault_response(fault: Fault) -> Response | None:
    kind = fault.kind
    if kind in ("ok", "timeout_after_commit"):
        return None
    if kind == "interrupt":
        return DroppedConnection()
    if kind == "timeout":
        return nginx_error_page(504)
    if kind == "429":
        return failure(429, "rate_limit_exceeded", "API rate limit was exceeded, please try again later.",
                       {"Retry-After": str(fault.retry_after)})  # fmt: skip
    if kind == "500":
        return failure(500, "internal_error", "Something went wrong. Please try again later.")
    return nginx_error_page(int(kind))


@dataclass(slots=True)
class Api:
    request: Request
    sandbox: Sandbox
    state: TikTokState
    store: Store
    now: float
    token: str
    user: TikTokUser


def api(publish: bool = False):  # noqa: ANN201 - decorator
    def wrap(handler):  # noqa: ANN001, ANN202
        async def endpoint(request: Request) -> Response:
            sandbox = sandbox_of(request)
            store = sandbox.store
            state = state_of(sandbox)
            token = bearer(request)
            if state.tokens.state(store, PLATFORM, token) != "ok":
                return failure(401, "access_token_invalid",
                               "The access token is invalid or not found in the request.")  # fmt: skip
            assert token is not None
            if publish and token.startswith("noscope"):
                return failure(401, "scope_not_authorized",
                               "The user did not authorize the scope required for completing this request.")  # fmt: skip
            ctx = Api(request, sandbox, state, store, store.now(), token, state.user(identity(token)))
            return await handler(ctx)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


async def _json(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _fields(request: Request) -> list[str] | None:
    raw = request.query_params.get("fields")
    if not raw:
        return None
    return [f.strip() for f in raw.split(",") if f.strip()]


# --------------------------------------------------------------------------- publishing


def _advance(state: TikTokState, store: Store, sandbox: Sandbox, publish: Publish, now: float) -> None:
    """Move a publish on to its final state once its processing time has passed."""
    if publish.status in ("PUBLISH_COMPLETE", "FAILED") or publish.done_at is None:
        return
    if now < publish.done_at:
        # PULL_FROM_URL: downloading for the first half of the time, then processing.
        halfway = publish.created_at + (publish.done_at - publish.created_at) / 2
        if publish.status == "PROCESSING_DOWNLOAD" and now >= halfway:
            publish.status = "PROCESSING_UPLOAD"
        return
    if publish.source == "PULL_FROM_URL":
        sample = samples.sample(publish.sample or "")
        if sample is None:
            publish.status, publish.fail_reason = "FAILED", "video_pull_failed"
            return
        data = sample.data
        publish.downloaded = len(data)
    else:
        data = bytes(publish.received)
    if not (sniff_mime(data[:64]) or "").startswith("video/"):
        publish.status, publish.fail_reason = "FAILED", "file_format_check_failed"
        return
    video_id = state.next_video_id(now)
    video = TikTokVideo(video_id, publish.user, publish.title, publish.done_at, publish.id, publish.privacy, len(data))
    state.videos[video_id] = video
    state.users[publish.user].video_ids.append(video_id)
    publish.status, publish.video_id = "PUBLISH_COMPLETE", video_id
    publish.received = bytearray()
    store.record_post(
        Post(
            platform=PLATFORM,
            account=publish.user,
            id=video_id,
            text=publish.title,
            media=[{"type": "video", "publish_id": publish.id, "source": publish.source,
                    "privacy_level": publish.privacy, "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()}],  # fmt: skip
            idempotency_key=None,
            received_at=publish.done_at,
            url=f"https://www.tiktok.com/@{publish.user}/video/{video_id}",
        )
    )
    sandbox.metrics.posts_accepted.labels(PLATFORM).inc()


def _schedule(sandbox: Sandbox, state: TikTokState, publish: Publish) -> None:
    """Finish the publish when its time comes even if nobody asks for its status."""

    def finish() -> None:
        if sandbox.store.platforms.get(PLATFORM) is state:
            _advance(state, sandbox.store, sandbox, publish, sandbox.store.now())

    delay = max(0.0, (publish.done_at or 0) - sandbox.store.now()) + 0.01
    try:
        asyncio.get_running_loop().call_later(delay, finish)
    except RuntimeError:  # pragma: no cover - no loop: the next status fetch finishes it
        pass


def _pending(state: TikTokState, user: str, now: float) -> int:
    count = 0
    for publish in state.publishes.values():
        if publish.user != user or publish.status in ("PUBLISH_COMPLETE", "FAILED"):
            continue
        if publish.uploaded_at is None and publish.source == "FILE_UPLOAD" and now > publish.created_at + UPLOAD_URL_SECONDS:
            continue  # its upload_url expired: it can never complete
        count += 1
    return count


@api(publish=True)
async def creator_info(ctx: Api) -> Response:
    user = ctx.user
    return answer({
        "creator_avatar_url": f"https://p16-sign.tiktokcdn.com/{user.open_id}~c5_168x168.jpeg",
        "creator_username": user.username,
        "creator_nickname": user.username.replace("_", " ").title(),
        "privacy_level_options": list(PRIVACY_LEVELS),
        "comment_disabled": False,
        "duet_disabled": user.username.startswith("noduet"),
        "stitch_disabled": False,
        "max_video_post_duration_sec": 600,
    })  # fmt: skip


def _check_chunks(size: int, chunk: int, count: int) -> str | None:
    if size <= 0 or size > MAX_VIDEO:
        return "The video_size is invalid; it must be between 1 byte and 4 GB."
    if size < MIN_CHUNK:
        if chunk != size or count != 1:
            return "Videos smaller than 5 MB must be uploaded as a single chunk (chunk_size = video_size)."
        return None
    if not MIN_CHUNK <= chunk <= MAX_CHUNK:
        return "The chunk_size is invalid; it must be between 5 MB and 64 MB."
    if count != size // chunk or not 1 <= count <= 1000:
        return f"The total_chunk_count is invalid; it must be {size // chunk} for this video_size and chunk_size."
    if size - (count - 1) * chunk > MAX_LAST_CHUNK:
        return "The last chunk may not exceed 128 MB."
    return None


@api(publish=True)
async def video_init(ctx: Api) -> Response:
    body = await _json(ctx.request)
    if body is None:
        return failure(400, "invalid_params", "The request body is not valid JSON.")
    post_info = body.get("post_info") if isinstance(body.get("post_info"), dict) else None
    source_info = body.get("source_info") if isinstance(body.get("source_info"), dict) else None
    if post_info is None or source_info is None:
        return failure(400, "invalid_params", "post_info and source_info are required.")
    title = post_info.get("title", "")
    if not isinstance(title, str) or len(title.encode("utf-16-le")) // 2 > 2200:
        return failure(400, "invalid_params", "The title is invalid; it may have at most 2200 UTF-16 characters.")
    privacy = post_info.get("privacy_level")
    if privacy not in PRIVACY_LEVELS:
        return failure(400, "privacy_level_option_mismatch",
                       "privacy_level must be one of the privacy_level_options of the creator.")  # fmt: skip
    if ctx.token.startswith("banned"):
        return failure(403, "spam_risk_user_banned_from_posting", "The user is banned from making new posts.")
    if ctx.token.startswith("unaudited") and privacy != "SELF_ONLY":
        return failure(403, "unaudited_client_can_only_post_to_private_accounts",
                       "Unaudited clients can only post to a private account.")  # fmt: skip
    source = source_info.get("source")
    sample: str | None = None
    size = chunk = count = 0
    if source == "FILE_UPLOAD":
        try:
            size, chunk, count = (int(source_info.get(k)) for k in ("video_size", "chunk_size", "total_chunk_count"))
        except (TypeError, ValueError):
            return failure(400, "invalid_params", "video_size, chunk_size and total_chunk_count are required.")
        problem = _check_chunks(size, chunk, count)
        if problem:
            return failure(400, "invalid_params", problem)
    elif source == "PULL_FROM_URL":
        url = source_info.get("video_url")
        found = samples.from_url(url) if isinstance(url, str) else None
        if found is None:
            return failure(403, "url_ownership_unverified",
                           "The domain or URL prefix of video_url is not verified for this client.")  # fmt: skip
        sample = found[0]
    else:
        return failure(400, "invalid_params", "source_info.source must be FILE_UPLOAD or PULL_FROM_URL.")
    store = ctx.store
    limit = store.limit_for(PLATFORM, "token")
    assert limit is not None
    used, reset_at = store.windows.hit((PLATFORM, "token", ctx.token), limit, ctx.now)
    if used > limit.limit:
        store.windows.undo((PLATFORM, "token", ctx.token))
        ctx.sandbox.metrics.rate_limited.labels(PLATFORM).inc()
        return failure(429, "rate_limit_exceeded", "API rate limit was exceeded, please try again later.")
    posts = store.limit_for(PLATFORM, "posts")
    if posts is not None and store.windows.count((PLATFORM, "posts", ctx.user.username), posts, ctx.now)[0] >= posts.limit:
        ctx.sandbox.metrics.rate_limited.labels(PLATFORM).inc()
        return failure(403, "spam_risk_too_many_posts", "The daily post cap from the API is reached for the current user.")
    if _pending(ctx.state, ctx.user.username, ctx.now) >= MAX_PENDING:
        return failure(403, "spam_risk_too_many_pending_share",
                       "The user has too many pending shares; wait until they are published.")  # fmt: skip
    fault = await decide(ctx.sandbox, PLATFORM, ctx.user.username)
    injected = _fault_response(fault)
    if injected is not None:
        return injected
    now = store.now()
    if posts is not None:
        store.windows.hit((PLATFORM, "posts", ctx.user.username), posts, now)
    publish_id = f"v_pub_{'file' if source == 'FILE_UPLOAD' else 'url'}~v2-1.{7 * 10**18 + secrets.randbelow(10**18)}"
    publish = Publish(publish_id, ctx.user.username, source, title, privacy, now, size, chunk, count,
                      sample=sample)  # fmt: skip
    data: dict[str, Any] = {"publish_id": publish_id}
    if source == "FILE_UPLOAD":
        publish.upload_id, publish.upload_token = str(7 * 10**18 + secrets.randbelow(10**18)), secrets.token_hex(16)
        ctx.state.uploads[publish.upload_id] = publish_id
        query = urlencode({"upload_id": publish.upload_id, "upload_token": publish.upload_token})
        data["upload_url"] = f"{base_url(ctx.request)}/upload/video/?{query}"
    else:
        publish.status = "PROCESSING_DOWNLOAD"
        publish.done_at = now + ctx.state.processing_seconds
        _schedule(ctx.sandbox, ctx.state, publish)
    ctx.state.publishes[publish_id] = publish
    return await held(answer(data), fault)


async def upload_chunk(request: Request) -> Response:
    """``PUT <upload_url>``: one chunk; the upload id and token in the URL are the credential."""
    sandbox = sandbox_of(request)
    store = sandbox.store
    state = state_of(sandbox)
    now = store.now()
    publish = state.publishes.get(state.uploads.get(request.query_params.get("upload_id", ""), ""))
    if (publish is None or request.query_params.get("upload_token") != publish.upload_token
            or (publish.uploaded_at is None and now > publish.created_at + UPLOAD_URL_SECONDS)):  # fmt: skip
        return failure(404, "invalid_params", "The upload_url is invalid or has expired.")
    m = _RANGE_RE.match(request.headers.get("content-range", "").strip())
    if m is None:
        return failure(400, "invalid_file_upload", "A Content-Range header 'bytes first-last/total' is required.")
    first, last, total = (int(g) for g in m.groups())
    data = await request.body()
    if total != publish.video_size:
        return failure(400, "invalid_file_upload", "The total in Content-Range does not match video_size.")
    index = first // publish.chunk_size
    expected_first = index * publish.chunk_size
    expected_last = publish.video_size - 1 if index == publish.total_chunks - 1 else expected_first + publish.chunk_size - 1
    if first != expected_first or last != expected_last or index >= publish.total_chunks or len(data) != last - first + 1:
        return failure(400, "invalid_file_upload",
                       f"Chunk {index} must cover bytes {expected_first}-{expected_last}/{total}.")  # fmt: skip
    if not (request.headers.get("content-type") or "").lower().startswith("video/"):
        return failure(400, "invalid_file_upload", "Content-Type must be a video type such as video/mp4.")
    received = len(publish.received)
    if first > received:
        return failure(400, "invalid_file_upload", "Chunks must be uploaded in order.")
    if publish.uploaded_at is not None or first < received:
        # Sent again: already have it.
        return Response(b"", status_code=201 if publish.uploaded_at is not None else 206)
    fault = await decide(sandbox, PLATFORM, publish.user)
    injected = _fault_response(fault)
    if injected is not None:
        return injected  # an interrupted chunk is not kept
    now = store.now()
    publish.received.extend(data)
    if len(publish.received) < publish.video_size:
        return await held(Response(b"", status_code=206), fault)
    publish.uploaded_at = now
    publish.done_at = now + state.processing_seconds
    _schedule(sandbox, state, publish)
    return await held(Response(b"", status_code=201), fault)


@api()
async def status_fetch(ctx: Api) -> Response:
    body = await _json(ctx.request)
    publish_id = (body or {}).get("publish_id")
    publish = ctx.state.publishes.get(publish_id) if isinstance(publish_id, str) else None
    if publish is None or publish.user != ctx.user.username:
        return failure(400, "invalid_params", "The publish_id is invalid.")
    _advance(ctx.state, ctx.store, ctx.sandbox, publish, ctx.now)
    data: dict[str, Any] = {"status": publish.status}
    if publish.fail_reason:
        data["fail_reason"] = publish.fail_reason
    data["publicaly_available_post_id"] = [int(publish.video_id)] if publish.video_id else []
    if publish.source == "FILE_UPLOAD":
        data["uploaded_bytes"] = publish.video_size if publish.uploaded_at else len(publish.received)
    else:
        data["downloaded_bytes"] = publish.downloaded
    return answer(data)


# --------------------------------------------------------------------------- display API


VIDEO_METRICS = {"like_count": 60, "comment_count": 6, "share_count": 10, "view_count": 1_500}


def _video_json(video: TikTokVideo, fields: list[str], now: float) -> dict[str, Any]:
    age = now - video.created_at
    every: dict[str, Any] = {
        "id": video.id,
        "create_time": int(video.created_at),
        "title": video.title,
        "video_description": video.title,
        "duration": 2,
        "height": 48,
        "width": 64,
        "share_url": f"https://www.tiktok.com/@{video.user}/video/{video.id}",
        "embed_link": f"https://www.tiktok.com/player/v1/{video.id}",
        "cover_image_url": f"https://p16-sign.tiktokcdn.com/obj/{video.id}.jpeg",
    }
    every.update({name: grown(video.id, name, age, scale) for name, scale in VIDEO_METRICS.items()})
    return {name: every[name] for name in fields if name in every}


@api()
async def video_list(ctx: Api) -> Response:
    fields = _fields(ctx.request)
    if fields is None:
        return failure(400, "invalid_params", "fields is required.")
    body = await _json(ctx.request) or {}
    max_count = body.get("max_count", 20)
    if not isinstance(max_count, int) or not 1 <= max_count <= 20:
        return failure(400, "invalid_params", "max_count must be between 1 and 20.")
    cursor = body.get("cursor")
    videos = [ctx.state.videos[v] for v in reversed(ctx.user.video_ids) if v in ctx.state.videos]
    if isinstance(cursor, int):
        videos = [v for v in videos if int(v.created_at * 1000) < cursor]
    page = videos[:max_count]
    next_cursor = int(page[-1].created_at * 1000) if page else 0
    return answer({"videos": [_video_json(v, fields, ctx.now) for v in page], "cursor": next_cursor,
                   "has_more": len(videos) > max_count})  # fmt: skip


@api()
async def video_query(ctx: Api) -> Response:
    fields = _fields(ctx.request)
    if fields is None:
        return failure(400, "invalid_params", "fields is required.")
    body = await _json(ctx.request) or {}
    ids = ((body.get("filters") or {}).get("video_ids")) if isinstance(body.get("filters"), dict) else None
    if not isinstance(ids, list) or not 1 <= len(ids) <= 20:
        return failure(400, "invalid_params", "filters.video_ids must list 1 to 20 video ids.")
    fault = await decide(ctx.sandbox, PLATFORM, ctx.user.username, read=True)
    injected = _fault_response(fault)
    if injected is not None:
        return injected
    found = [ctx.state.videos[str(i)] for i in ids if str(i) in ctx.state.videos
             and ctx.state.videos[str(i)].user == ctx.user.username]  # fmt: skip
    return await held(answer({"videos": [_video_json(v, fields, ctx.now) for v in found], "cursor": 0,
                              "has_more": False}), fault)  # fmt: skip


def user_counts(state: TikTokState, user: TikTokUser, now: float) -> dict[str, int]:
    videos = [state.videos[v] for v in user.video_ids if v in state.videos]
    likes = sum(grown(v.id, "like_count", now - v.created_at, VIDEO_METRICS["like_count"]) for v in videos)
    return {
        "follower_count": audience("tt:" + user.username, 2_000, now - user.created_at, 5),
        "following_count": 40 + stable_number("tt-following:" + user.username, 300),
        "likes_count": 500 + stable_number("tt-likes:" + user.username, 5_000) + likes,
        "video_count": len(videos),
    }


@api()
async def user_info(ctx: Api) -> Response:
    fields = _fields(ctx.request)
    if fields is None:
        return failure(400, "invalid_params", "fields is required.")
    fault = await decide(ctx.sandbox, PLATFORM, ctx.user.username, read=True)
    injected = _fault_response(fault)
    if injected is not None:
        return injected
    user = ctx.user
    every: dict[str, Any] = {
        "open_id": user.open_id,
        "union_id": "u" + user.open_id,
        "avatar_url": f"https://p16-sign.tiktokcdn.com/{user.open_id}~c5_168x168.jpeg",
        "display_name": user.username.replace("_", " ").title(),
        "username": user.username,
        "bio_description": "Akun sandbox Siar.",
        "profile_deep_link": f"https://vm.tiktok.com/{user.open_id}",
        "is_verified": False,
    }
    every.update(user_counts(ctx.state, user, ctx.now))
    return await held(answer({"user": {name: every[name] for name in fields if name in every}}), fault)


# --------------------------------------------------------------------------- OAuth


async def oauth_token(request: Request) -> Response:
    sandbox = sandbox_of(request)
    store = sandbox.store
    state = state_of(sandbox)

    def error(name: str, description: str, status: int = 400, headers: dict[str, str] | None = None) -> Response:
        return Response(json_bytes({"error": name, "error_description": description, "log_id": log_id()}),
                        status_code=status, headers=headers, media_type=JSON)  # fmt: skip

    try:
        form = await request.form()
    except HTTPException:
        return error("invalid_request", "The request body could not be parsed.")
    # Faults configured for reads ("calls": "reads" or "all") reach the token endpoint too.
    fault = await decide(sandbox, PLATFORM, identity(str(form.get("refresh_token") or "")) or None, read=True)
    if fault.kind == "429":
        return error("rate_limit_exceeded", "API rate limit was exceeded, please try again later.", 429,
                     {"Retry-After": str(fault.retry_after)})  # fmt: skip
    injected = _fault_response(fault)
    if injected is not None:
        return injected
    if form.get("grant_type") != "refresh_token":
        return error("unsupported_grant_type", "The grant_type is not supported.")
    key, secret = str(form.get("client_key") or ""), str(form.get("client_secret") or "")
    if not key or not secret or secret.startswith("wrong"):
        return error("invalid_client", "Client authentication failed.", 401)
    refresh = str(form.get("refresh_token") or "")
    if not state.tokens.use_refresh(store, PLATFORM, refresh):
        return error("invalid_grant", "Refresh token is invalid or expired.")
    owner = identity(refresh)
    access, _ = state.tokens.issue(store, owner, "act.")
    return Response(json_bytes({
        "access_token": access,
        "expires_in": TOKEN_SECONDS,
        "open_id": state.user(owner).open_id,
        "refresh_expires_in": REFRESH_SECONDS,
        "refresh_token": f"{owner}.rft.{secrets.token_urlsafe(24)}",
        "scope": "user.info.basic,user.info.profile,user.info.stats,video.list,video.publish,video.upload",
        "token_type": "Bearer",
    }), media_type=JSON)  # fmt: skip


async def not_found(request: Request) -> Response:
    return failure(404, "invalid_params", f"No such endpoint: {request.method} {request.url.path}")


routes = [
    Route("/v2/post/publish/creator_info/query/", creator_info, methods=["POST"]),
    Route("/v2/post/publish/video/init/", video_init, methods=["POST"]),
    Route("/v2/post/publish/status/fetch/", status_fetch, methods=["POST"]),
    Route("/upload/video/", upload_chunk, methods=["PUT"]),
    Route("/v2/video/list/", video_list, methods=["POST"]),
    Route("/v2/video/query/", video_query, methods=["POST"]),
    Route("/v2/user/info/", user_info, methods=["GET"]),
    Route("/v2/oauth/token/", oauth_token, methods=["POST"]),
    Route("/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
]

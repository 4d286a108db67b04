"""An imitation of the YouTube Data API v3 and of Google's OAuth token endpoints, mounted under
``/youtube`` (the real hosts are ``www.googleapis.com`` and ``oauth2.googleapis.com``).

Endpoints: the resumable upload (``POST /upload/youtube/v3/videos?uploadType=resumable`` ->
``Location`` session URI; ``PUT`` the bytes, in chunks with ``Content-Range: bytes a-b/TOTAL``;
``PUT`` with ``Content-Range: bytes */TOTAL`` asks what arrived: ``308`` with ``Range:
bytes=0-N``, or the video when complete), ``GET /youtube/v3/videos``, ``GET /youtube/v3/channels
?mine=true``, ``GET /youtube/v3/playlistItems`` (the uploads playlist), ``POST /token``
(``grant_type=refresh_token``) and ``GET /tokeninfo``.

Tokens: any bearer token is an access token of the channel named by its part before the first
``.`` (``library.ya29`` -> ``@library``), living 3,599 s from when it is first seen or issued.
A token starting with ``revoked``, revoked or expired through the control API gets 401
``authError``; ``readonly…`` lacks the upload scope (403 ``insufficientPermissions``);
``nochannel…`` belongs to a Google account without a channel (no channel, 401
``youtubeSignupRequired`` on upload); ``unverified…`` was issued to an API project YouTube has not
verified (audited), whose uploads are locked private: videos.insert accepts any
``privacyStatus`` and the video is ``private`` (developers.google.com/youtube/v3/docs/videos/insert:
unverified projects created after 2020-07-28 upload private-only). Refresh tokens do not rotate; a revoked one (control API,
or one starting with ``revoked``) gets ``invalid_grant``; a client secret starting with
``wrong`` gets ``invalid_client``.

Faults apply to session creation and to the PUTs that carry bytes. ``interrupt`` on a PUT keeps
the first half of the bytes it carried and drops the connection, so a client must ask what
arrived and resume from there. Quotas (``PUT /_sandbox/limits``): ``quota`` counts videos.insert
calls (403 ``quotaExceeded``), ``uploads`` counts uploads per channel (400
``uploadLimitExceeded``). After the last byte the video exists (the post is recorded) and stays
``uploaded`` for ``media_processing_seconds``, then ``processed`` (or ``failed``/``invalidFile``
when the bytes are not a video). Video and channel statistics grow with time."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .apikit import (
    DroppedConnection,
    Fault,
    TokenBook,
    audience,
    base_url,
    bearer,
    decide,
    digest_id,
    grown,
    held,
    identity,
)
from .context import Sandbox, sandbox_of
from .mediainfo import sniff_mime
from .responses import json_bytes, nginx_error_page
from .store import Post, Store, stable_number

PLATFORM = "youtube"
JSON = "application/json; charset=UTF-8"
TOKEN_SECONDS = 3_599
SESSION_SECONDS = 7 * 86_400
CATEGORIES = {"1", "2", "10", "15", "17", "19", "20", "22", "23", "24", "25", "26", "27", "28", "29"}
PRIVACY = ("public", "unlisted", "private")
UNVERIFIED_PROJECT = "unverified"  # a token prefix: the API project is not verified (private-only)
_RANGE_RE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")

log = structlog.get_logger("siar_sandbox.youtube")


# --------------------------------------------------------------------------- state


@dataclass(slots=True)
class Channel:
    id: str
    name: str
    created_at: float
    video_ids: list[str] = field(default_factory=list)

    @property
    def uploads(self) -> str:
        return "UU" + self.id[2:]


@dataclass(slots=True)
class Session:
    id: str
    channel: str
    size: int | None
    mime: str
    parts: list[str]
    snippet: dict[str, Any]
    status: dict[str, Any]
    created_at: float
    received: bytearray = field(default_factory=bytearray)
    video_id: str | None = None


@dataclass(slots=True)
class Video:
    id: str
    channel: str
    title: str
    description: str
    tags: list[str]
    category: str
    privacy: str
    created_at: float
    size: int
    mime: str
    valid: bool
    processed_at: float


class YouTubeState:
    def __init__(self, settings: Any) -> None:
        self.processing_seconds = float(settings.media_processing_seconds)
        self.channels: dict[str, Channel] = {}
        self.sessions: dict[str, Session] = {}
        self.videos: dict[str, Video] = {}
        self.tokens = TokenBook(TOKEN_SECONDS)

    def channel(self, name: str) -> Channel:
        found = self.channels.get(name)
        if found is None:
            found = Channel("UC" + digest_id("yt-channel:" + name, 22), name, 1_704_067_200.0)
            self.channels[name] = found
        return found


def state_of(sandbox: Sandbox) -> YouTubeState:
    return sandbox.store.state_of(PLATFORM, YouTubeState)


# --------------------------------------------------------------------------- errors


def google_error(code: int, message: str, reason: str, domain: str = "global",
                 status: str | None = None, headers: dict[str, str] | None = None,
                 **extra: str) -> Response:  # fmt: skip
    item = {"message": message, "domain": domain, "reason": reason, **extra}
    body: dict[str, Any] = {"code": code, "message": message, "errors": [item]}
    if status:
        body["status"] = status
    return Response(json_bytes({"error": body}), status_code=code, headers=headers, media_type=JSON)


def _unauthorized() -> Response:
    return google_error(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "authError", location="Authorization", locationType="header", status="UNAUTHENTICATED",
    )  # fmt: skip


def _fault_response(fault: Fault) -> Response | None:
    kind = fault.kind
    if kind in ("ok", "timeout_after_commit"):
        return None
    if kind == "interrupt":
        return DroppedConnection()
    if kind == "timeout":
        return nginx_error_page(504)
    if kind == "429":
        return google_error(429, "Resource has been exhausted (e.g. check quota).", "rateLimitExceeded",
                            status="RESOURCE_EXHAUSTED",
                            headers={"Retry-After": str(fault.retry_after)})  # fmt: skip
    if kind == "500":
        return google_error(500, "Backend Error", "backendError")
    if kind == "503":
        return google_error(503, "The service is currently unavailable.", "backendError",
                            status="UNAVAILABLE")  # fmt: skip
    return nginx_error_page(int(kind))


@dataclass(slots=True)
class Api:
    request: Request
    sandbox: Sandbox
    state: YouTubeState
    store: Store
    now: float
    token: str
    channel: Channel

    def json(self, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(json_bytes(payload), status_code=status, headers=headers, media_type=JSON)


def api(write: bool = False):  # noqa: ANN201 - decorator
    def wrap(handler):  # noqa: ANN001, ANN202
        async def endpoint(request: Request) -> Response:
            sandbox = sandbox_of(request)
            store = sandbox.store
            state = state_of(sandbox)
            token = bearer(request)
            if state.tokens.state(store, PLATFORM, token) != "ok":
                return _unauthorized()
            assert token is not None
            if write and token.startswith("readonly"):
                return google_error(403, "Request had insufficient authentication scopes.",
                                    "insufficientPermissions", status="PERMISSION_DENIED")  # fmt: skip
            ctx = Api(request, sandbox, state, store, store.now(), token, state.channel(identity(token)))
            return await handler(ctx)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


# --------------------------------------------------------------------------- resources


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _etag(*parts: object) -> str:
    return digest_id("|".join(map(str, parts)), 27)


def _thumbnails(video_id: str) -> dict[str, Any]:
    return {
        name: {"url": f"https://i.ytimg.com/vi/{video_id}/{file}", "width": w, "height": h}
        for name, file, w, h in (("default", "default.jpg", 120, 90), ("medium", "mqdefault.jpg", 320, 180),
                                 ("high", "hqdefault.jpg", 480, 360))
    }  # fmt: skip


def video_statistics(video: Video, now: float) -> dict[str, str]:
    age = now - video.created_at if video.valid else 0.0
    return {
        "viewCount": str(grown(video.id, "viewCount", age, 500)),
        "likeCount": str(grown(video.id, "likeCount", age, 25)),
        "favoriteCount": "0",
        "commentCount": str(grown(video.id, "commentCount", age, 3)),
    }


def _video_json(state: YouTubeState, video: Video, parts: set[str], now: float) -> dict[str, Any]:
    channel = state.channels[video.channel]
    body: dict[str, Any] = {"kind": "youtube#video", "etag": _etag(video.id, now // 60), "id": video.id}
    if "snippet" in parts:
        snippet: dict[str, Any] = {
            "publishedAt": _iso(video.created_at),
            "channelId": channel.id,
            "title": video.title,
            "description": video.description,
            "thumbnails": _thumbnails(video.id),
            "channelTitle": channel.name.replace("_", " ").title(),
            "categoryId": video.category,
            "liveBroadcastContent": "none",
            "localized": {"title": video.title, "description": video.description},
        }
        if video.tags:
            snippet["tags"] = list(video.tags)
        body["snippet"] = snippet
    processing = now < video.processed_at
    if "status" in parts:
        status: dict[str, Any] = {
            "uploadStatus": "uploaded" if processing else "processed" if video.valid else "failed",
            "privacyStatus": video.privacy,
            "license": "youtube",
            "embeddable": True,
            "publicStatsViewable": True,
            "madeForKids": False,
        }
        if not processing and not video.valid:
            status["failureReason"] = "invalidFile"
        body["status"] = status
    if "statistics" in parts:
        body["statistics"] = video_statistics(video, now)
    if "processingDetails" in parts:
        details: dict[str, Any] = {
            "processingStatus": "processing" if processing else "succeeded" if video.valid else "failed"
        }
        if processing:
            total = max(video.processed_at - video.created_at, 1e-9)
            done = int(1000 * (now - video.created_at) / total)
            details["processingProgress"] = {"partsTotal": "1000", "partsProcessed": str(done),
                                             "timeLeftMs": str(int((video.processed_at - now) * 1000))}  # fmt: skip
        elif not video.valid:
            details["processingFailureReason"] = "transcodeFailed"
        body["processingDetails"] = details
    return body


def _parts(request: Request) -> set[str] | None:
    raw = request.query_params.get("part")
    if not raw:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


def _missing_part() -> Response:
    return google_error(400, "No filter selected. Expected one of: ...", "missingRequiredParameter",
                        location="part", locationType="parameter")  # fmt: skip


def _list(kind: str, items: list[dict[str, Any]], per_page: int, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": kind, "etag": _etag(kind, len(items))}
    body.update(extra)
    body["items"] = items
    body["pageInfo"] = {"totalResults": len(items), "resultsPerPage": per_page}
    return body


async def _read_fault(ctx: Api) -> tuple[Fault, Response | None]:
    fault = await decide(ctx.sandbox, PLATFORM, ctx.channel.name, read=True)
    return fault, _fault_response(fault)


@api()
async def list_videos(ctx: Api) -> Response:
    parts = _parts(ctx.request)
    if parts is None:
        return _missing_part()
    fault, injected = await _read_fault(ctx)
    if injected is not None:
        return injected
    ids = [i for i in ctx.request.query_params.get("id", "").split(",") if i]
    items = [_video_json(ctx.state, ctx.state.videos[i], parts, ctx.now) for i in ids if i in ctx.state.videos]
    return await held(ctx.json(_list("youtube#videoListResponse", items, len(items))), fault)


def channel_statistics(state: YouTubeState, channel: Channel, now: float) -> dict[str, Any]:
    videos = [state.videos[v] for v in channel.video_ids if v in state.videos]
    views = sum(int(video_statistics(v, now)["viewCount"]) for v in videos)
    base_views = 1_000 + stable_number("yt-views:" + channel.name, 50_000)
    return {
        "viewCount": str(base_views + views),
        "subscriberCount": str(audience("yt:" + channel.name, 800, now - channel.created_at, 2)),
        "hiddenSubscriberCount": False,
        "videoCount": str(len(videos)),
    }


@api()
async def list_channels(ctx: Api) -> Response:
    parts = _parts(ctx.request)
    if parts is None:
        return _missing_part()
    if ctx.request.query_params.get("mine") != "true":
        return google_error(400, "The sandbox answers channels.list with mine=true only.", "invalidFilters")
    fault, injected = await _read_fault(ctx)
    if injected is not None:
        return injected
    if ctx.token.startswith("nochannel"):
        return ctx.json(_list("youtube#channelListResponse", [], 5))
    channel = ctx.channel
    item: dict[str, Any] = {"kind": "youtube#channel", "etag": _etag(channel.id), "id": channel.id}
    if "snippet" in parts:
        item["snippet"] = {
            "title": channel.name.replace("_", " ").title(),
            "description": "Kanal sandbox Siar.",
            "customUrl": "@" + channel.name.lower(),
            "publishedAt": _iso(channel.created_at),
            "thumbnails": {},
            "localized": {"title": channel.name.replace("_", " ").title(), "description": ""},
        }
    if "contentDetails" in parts:
        item["contentDetails"] = {"relatedPlaylists": {"likes": "", "uploads": channel.uploads}}
    if "statistics" in parts:
        item["statistics"] = channel_statistics(ctx.state, channel, ctx.now)
    if "status" in parts:
        item["status"] = {
            "privacyStatus": "public",
            "isLinked": True,
            "longUploadsStatus": "allowed" if channel.name.startswith("verified") else "eligible",
            "madeForKids": False,
        }
    return await held(ctx.json(_list("youtube#channelListResponse", [item], 5)), fault)


@api()
async def list_playlist_items(ctx: Api) -> Response:
    parts = _parts(ctx.request)
    if parts is None:
        return _missing_part()
    q = ctx.request.query_params
    playlist = q.get("playlistId", "")
    channel = next((c for c in ctx.state.channels.values() if c.uploads == playlist), None)
    if channel is None:
        return google_error(404, "The playlist identified with the request's <code>playlistId</code> "
                            "parameter cannot be found.", "playlistNotFound", domain="youtube.playlistItem",
                            location="playlistId", locationType="parameter")  # fmt: skip
    raw_max = q.get("maxResults", "5")
    per_page = min(50, max(0, int(raw_max))) if raw_max.isdigit() else 5
    start = int(q["pageToken"][2:]) if q.get("pageToken", "").startswith("PT") and q["pageToken"][2:].isdigit() else 0
    videos = [ctx.state.videos[v] for v in reversed(channel.video_ids) if v in ctx.state.videos]
    page = videos[start : start + per_page]
    items = []
    for position, video in enumerate(page, start):
        item: dict[str, Any] = {"kind": "youtube#playlistItem", "etag": _etag(playlist, video.id),
                                "id": digest_id(playlist + video.id, 40)}  # fmt: skip
        if "snippet" in parts:
            item["snippet"] = {
                "publishedAt": _iso(video.created_at),
                "channelId": channel.id,
                "title": video.title,
                "description": video.description,
                "thumbnails": _thumbnails(video.id),
                "channelTitle": channel.name.replace("_", " ").title(),
                "playlistId": playlist,
                "position": position,
                "resourceId": {"kind": "youtube#video", "videoId": video.id},
                "videoOwnerChannelId": channel.id,
            }
        if "contentDetails" in parts:
            item["contentDetails"] = {"videoId": video.id, "videoPublishedAt": _iso(video.created_at)}
        if "status" in parts:
            item["status"] = {"privacyStatus": video.privacy}
        items.append(item)
    extra: dict[str, Any] = {}
    if start + per_page < len(videos):
        extra["nextPageToken"] = f"PT{start + per_page}"
    body = _list("youtube#playlistItemListResponse", items, per_page, **extra)
    body["pageInfo"]["totalResults"] = len(videos)
    return ctx.json(body)


# --------------------------------------------------------------------------- resumable upload


def _bad_metadata(reason: str, message: str) -> Response:
    return google_error(400, message, reason, domain="youtube.video")


@api(write=True)
async def start_upload(ctx: Api) -> Response:
    q = ctx.request.query_params
    if q.get("uploadType") != "resumable":
        return google_error(400, "The sandbox accepts uploadType=resumable only.", "badRequest")
    parts = _parts(ctx.request)
    if parts is None or not parts <= {"snippet", "status", "contentDetails", "statistics",
                                       "processingDetails", "id"}:  # fmt: skip
        return _missing_part()
    if ctx.token.startswith("nochannel"):
        return google_error(401, "Unauthorized", "youtubeSignupRequired", domain="youtube.header",
                            location="Authorization", locationType="header")  # fmt: skip
    try:
        raw = await ctx.request.body()
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return google_error(400, "Parse Error", "parseError")
    if not isinstance(body, dict):
        return google_error(400, "Parse Error", "parseError")
    snippet = body.get("snippet") if isinstance(body.get("snippet"), dict) else {}
    status = body.get("status") if isinstance(body.get("status"), dict) else {}
    title = snippet.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 100 or re.search("[<>]", title):
        return _bad_metadata("invalidTitle", "The request metadata specifies an invalid or empty video title.")
    description = snippet.get("description", "")
    if not isinstance(description, str) or len(description.encode()) > 5000 or re.search("[<>]", description):
        return _bad_metadata("invalidDescription", "The request metadata specifies an invalid video description.")
    category = str(snippet.get("categoryId", "22"))
    if category not in CATEGORIES:
        return _bad_metadata("invalidCategoryId", "The <code>snippet.categoryId</code> property specifies "
                             "an invalid category ID.")  # fmt: skip
    privacy = status.get("privacyStatus", "public")
    if privacy not in PRIVACY:
        return _bad_metadata("invalidVideoMetadata", "The request metadata is invalid.")
    if ctx.token.startswith(UNVERIFIED_PROJECT):
        privacy = "private"  # an unverified API project's uploads are locked private
    mime = (ctx.request.headers.get("x-upload-content-type") or "application/octet-stream").lower()
    if not (mime.startswith("video/") or mime == "application/octet-stream"):
        return google_error(400, f"Media type '{mime}' is not supported. Valid media types: "
                            "[video/*, application/octet-stream]", "badContent")  # fmt: skip
    raw_size = ctx.request.headers.get("x-upload-content-length")
    size = int(raw_size) if raw_size and raw_size.isdigit() else None
    if size is not None and size > 256 * 1024**3:
        return google_error(400, "Media larger than 256 GB", "uploadTooLarge")
    store = ctx.store
    quota = store.limit_for(PLATFORM, "quota")
    if quota is not None:
        used, _ = store.windows.count((PLATFORM, "quota", "project"), quota, ctx.now)
        if used >= quota.limit:
            ctx.sandbox.metrics.rate_limited.labels(PLATFORM).inc()
            return google_error(403, 'The request cannot be completed because you have exceeded your '
                                '<a href="/youtube/v3/getting-started#quota">quota</a>.', "quotaExceeded",
                                domain="youtube.quota")  # fmt: skip
    uploads = store.limit_for(PLATFORM, "uploads")
    if uploads is not None:
        used, _ = store.windows.count((PLATFORM, "uploads", ctx.channel.id), uploads, ctx.now)
        if used >= uploads.limit:
            ctx.sandbox.metrics.rate_limited.labels(PLATFORM).inc()
            return _bad_metadata("uploadLimitExceeded", "The user has exceeded the number of videos they may upload.")
    fault = await decide(ctx.sandbox, PLATFORM, ctx.channel.name)
    injected = _fault_response(fault)
    if injected is not None:
        return injected
    if quota is not None:
        store.windows.hit((PLATFORM, "quota", "project"), quota, ctx.now)
    if uploads is not None:
        store.windows.hit((PLATFORM, "uploads", ctx.channel.id), uploads, ctx.now)
    upload_id = "AJRbA5" + secrets.token_urlsafe(40)
    tags = [t for t in snippet.get("tags", []) if isinstance(t, str)] if isinstance(snippet.get("tags"), list) else []
    ctx.state.sessions[upload_id] = Session(
        upload_id, ctx.channel.name, size, mime, sorted(parts),
        {"title": title, "description": description, "categoryId": category, "tags": tags},
        {"privacyStatus": privacy}, ctx.now,
    )  # fmt: skip
    query = urlencode({"uploadType": "resumable", "part": ",".join(sorted(parts)), "upload_id": upload_id})
    location = f"{base_url(ctx.request)}/upload/youtube/v3/videos?{query}"
    headers = {"Location": location, "X-GUploader-UploadID": upload_id}
    return await held(Response(b"", status_code=200, headers=headers), fault)


def _incomplete(session: Session) -> Response:
    headers = {"X-GUploader-UploadID": session.id}
    if session.received:
        headers["Range"] = f"bytes=0-{len(session.received) - 1}"
    return Response(b"", status_code=308, headers=headers)


def _complete(ctx_store: Store, sandbox: Sandbox, state: YouTubeState, session: Session, now: float) -> Video:
    data = bytes(session.received)
    mime = sniff_mime(data[:64]) or session.mime
    video_id = digest_id("yt-video:" + session.id, 11).replace("-", "a").replace("_", "b")
    video = Video(
        video_id, session.channel, session.snippet["title"], session.snippet["description"],
        session.snippet["tags"], session.snippet["categoryId"], session.status["privacyStatus"], now,
        len(data), mime, (mime or "").startswith("video/"), now + state.processing_seconds,
    )  # fmt: skip
    state.videos[video_id] = video
    state.channels[session.channel].video_ids.append(video_id)
    session.video_id = video_id
    session.received = bytearray()  # the bytes live on as the video; keep memory small
    ctx_store.record_post(
        Post(
            platform=PLATFORM,
            account="@" + session.channel,
            id=video_id,
            text=video.description,
            media=[{"type": "video", "title": video.title, "mime_type": mime, "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()}],
            idempotency_key=None,
            received_at=now,
            url=f"https://www.youtube.com/watch?v={video_id}",
        )
    )
    sandbox.metrics.posts_accepted.labels(PLATFORM).inc()
    return video


async def put_upload(request: Request) -> Response:
    """The session URI: the upload id is the credential, as Google's upload server treats it."""
    sandbox = sandbox_of(request)
    store = sandbox.store
    state = state_of(sandbox)
    now = store.now()
    session = state.sessions.get(request.query_params.get("upload_id", ""))
    if session is None or now > session.created_at + SESSION_SECONDS:
        return google_error(404, "The upload session was not found or has expired; start a new one.",
                            "notFound")  # fmt: skip
    data = await request.body()
    header = request.headers.get("content-range")
    if header is None:
        first, last, total = 0, len(data) - 1, session.size if session.size is not None else len(data)
        query = False
    else:
        m = _RANGE_RE.match(header.strip())
        if m is None:
            return google_error(400, f"Failed to parse Content-Range header: {header}", "badRequest")
        query = m.group(1) is None
        total = int(m.group(3)) if m.group(3) != "*" else (session.size or 0)
        first = int(m.group(1)) if not query else 0
        last = int(m.group(2)) if not query else -1
    if session.size is None and total:
        session.size = total
    parts = set(session.parts)
    if session.video_id is not None:
        video = state.videos[session.video_id]
        return Response(json_bytes(_video_json(state, video, parts, now)), status_code=200, media_type=JSON)
    if query:
        return _incomplete(session)
    if total != session.size:
        return google_error(400, f"The Content-Range total {total} does not match the upload size {session.size}.",
                            "badRequest")  # fmt: skip
    if last - first + 1 != len(data) or last >= total:
        return google_error(400, "The Content-Range does not match the bytes sent.", "badRequest")
    received = len(session.received)
    if first > received:
        return _incomplete(session)  # a gap: tell the client where the upload stands
    fault = await decide(sandbox, PLATFORM, session.channel)
    if fault.kind == "interrupt":
        new = data[received - first :]
        session.received.extend(new[: len(new) // 2])
        return DroppedConnection()
    injected = _fault_response(fault)
    if injected is not None:
        return injected
    now = store.now()
    session.received.extend(data[received - first :])
    if len(session.received) < (session.size or 0):
        return await held(_incomplete(session), fault)
    video = _complete(store, sandbox, state, session, now)
    body = json_bytes(_video_json(state, video, parts, now))
    return await held(Response(body, status_code=201, media_type=JSON), fault)


# --------------------------------------------------------------------------- OAuth


async def token(request: Request) -> Response:
    sandbox = sandbox_of(request)
    store = sandbox.store
    state = state_of(sandbox)

    def error(name: str, description: str, status: int = 400) -> Response:
        return Response(json_bytes({"error": name, "error_description": description}), status_code=status,
                        media_type=JSON)  # fmt: skip

    try:
        form = await request.form()
    except HTTPException:
        return error("invalid_request", "Could not parse the request body.")
    if form.get("grant_type") != "refresh_token":
        return error("unsupported_grant_type", "Invalid grant_type: " + str(form.get("grant_type")))
    client_id, secret = str(form.get("client_id") or ""), str(form.get("client_secret") or "")
    if not client_id or not secret or secret.startswith("wrong"):
        return error("invalid_client", "The OAuth client was not found." if not client_id else "Unauthorized", 401)
    refresh = str(form.get("refresh_token") or "")
    if not refresh:
        return error("invalid_request", "Missing required parameter: refresh_token")
    if not state.tokens.use_refresh(store, PLATFORM, refresh, rotate=False):
        return error("invalid_grant", "Token has been expired or revoked.")
    access, _ = state.tokens.issue(store, identity(refresh), "ya29.")
    return Response(json_bytes({
        "access_token": access,
        "expires_in": TOKEN_SECONDS,
        "scope": "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly",
        "token_type": "Bearer",
    }), media_type=JSON)  # fmt: skip


async def tokeninfo(request: Request) -> Response:
    sandbox = sandbox_of(request)
    store = sandbox.store
    state = state_of(sandbox)
    access = request.query_params.get("access_token", "")
    if state.tokens.state(store, PLATFORM, access) != "ok":
        return Response(json_bytes({"error": "invalid_token", "error_description": "Invalid Value"}),
                        status_code=400, media_type=JSON)  # fmt: skip
    expires_at = state.tokens.access[access]
    client = "1234567890-sandbox.apps.googleusercontent.com"
    return Response(json_bytes({
        "azp": client,
        "aud": client,
        "scope": "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly",
        "exp": str(int(expires_at)),
        "expires_in": str(max(0, int(expires_at - store.now()))),
        "access_type": "offline",
    }), media_type=JSON)  # fmt: skip


async def not_found(request: Request) -> Response:
    return google_error(404, "Not Found", "notFound")


routes = [
    Route("/upload/youtube/v3/videos", start_upload, methods=["POST"]),
    Route("/upload/youtube/v3/videos", put_upload, methods=["PUT"]),
    Route("/youtube/v3/videos", list_videos, methods=["GET"]),
    Route("/youtube/v3/channels", list_channels, methods=["GET"]),
    Route("/youtube/v3/playlistItems", list_playlist_items, methods=["GET"]),
    Route("/token", token, methods=["POST"]),
    Route("/tokeninfo", tokeninfo, methods=["GET", "POST"]),
    Route("/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
]

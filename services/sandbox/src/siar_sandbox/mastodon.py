"""An imitation of a Mastodon server's REST API, mounted under ``/mastodon``.

Tokens: any non-empty bearer token is valid unless it starts with ``revoked`` or was revoked
through the control API. The account's username is the token's part before the first ``.``
(``library.secret`` -> ``@library``), or ``sandbox`` when the token has no dot. A token starting
with ``readonly`` lacks the write scopes and one starting with ``disabled`` belongs to a disabled
login: both get Mastodon's 403s.

Wire formats follow mastodon/mastodon: Doorkeeper's 401 body and ``WWW-Authenticate`` header,
``{"error": ...}`` bodies from Api::BaseController, Rack::Attack's 429 and X-RateLimit-* headers
(reset as ISO 8601 with microseconds), PostStatusService's validation messages and its
``Idempotency-Key`` handling (per account, one hour).
"""

from __future__ import annotations

import asyncio
import bisect
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from . import engagement
from .apikit import DroppedConnection
from .context import Sandbox, sandbox_of
from .faults import ERROR_CODES
from .mastodon_text import countable_length, escape, format_content
from .mediainfo import DEFAULT_SIZE, fit_within, guess_mime, image_size, kind_of, video_size
from .responses import json_bytes, nginx_error_page
from .store import (
    MastodonAccount,
    MastodonMedia,
    MastodonState,
    MastodonStatus,
    Post,
    iso_micro,
    iso_millis,
)

PLATFORM = "mastodon"
JSON = "application/json; charset=utf-8"
IDEMPOTENCY_SECONDS = 3_600
VISIBILITIES = ("public", "unlisted", "private", "direct")
SUPPORTED_MIME_TYPES = [
    "image/jpeg", "image/png", "image/gif", "image/heic", "image/heif", "image/webp", "image/avif",
    "video/webm", "video/mp4", "video/quicktime", "video/ogg", "audio/wave", "audio/wav",
    "audio/x-wav", "audio/x-pn-wave", "audio/vnd.wave", "audio/ogg", "audio/vorbis", "audio/mpeg",
    "audio/mp3", "audio/webm", "audio/flac", "audio/aac", "audio/m4a", "audio/x-m4a", "audio/mp4",
    "audio/3gpp", "video/x-ms-asf",
]  # fmt: skip
_BLURHASH = "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}"
_FALSE = {"false", "0", "f", "off", "no", "n"}
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")
_MAX_FORM_PART = 8 * 1024 * 1024
# The extension of the stored original (Mastodon transcodes GIFs and videos to MP4).
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "mp4",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/quicktime": "mp4",
    "video/webm": "mp4",
}

log = structlog.get_logger("siar_sandbox.mastodon")


# --------------------------------------------------------------------------- request context


@dataclass(slots=True)
class Api:
    """One authenticated (or anonymous) API request."""

    request: Request
    sandbox: Sandbox
    state: MastodonState
    now: float
    token: str | None
    username: str | None
    headers: dict[str, str]
    base: str
    host: str
    hold_seconds: float = 0.0
    # Set by a timeout_after_commit fault; becomes hold_seconds only when something is committed.
    pending_hold: float = 0.0

    def json(self, payload: Any, status: int = 200) -> Response:
        return Response(
            json_bytes(payload), status_code=status, headers=self.headers, media_type=JSON
        )

    def error(self, status: int, message: str) -> Response:
        return self.json({"error": message}, status)


def _rate_headers(limit: int, remaining: int, reset_at: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": iso_micro(reset_at),
    }


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
        return None
    return request.query_params.get("access_token")


def username_for(token: str) -> str:
    head = token.split(".", 1)[0] if "." in token else "sandbox"
    return head or "sandbox"


def api(auth: str = "required", write: bool = False):  # noqa: ANN201 - decorator
    """Wrap an endpoint with Rack::Attack-style rate limiting and Doorkeeper-style auth.

    ``auth``: ``required`` (401 without a valid token), ``optional`` (anonymous allowed, an
    invalid token is still 401) or ``none`` (token ignored unless valid). ``write``: the endpoint
    needs a write scope, which a token starting with ``readonly`` lacks (403). On ``required``
    endpoints a token starting with ``disabled`` belongs to a disabled login (403)."""

    def wrap(handler):  # noqa: ANN001, ANN202
        async def endpoint(request: Request) -> Response:
            sandbox = sandbox_of(request)
            store = sandbox.store
            now = time.time()
            token = _bearer(request)
            username: str | None = None
            auth_error: str | None = None
            if token is not None:
                if not token or token.startswith("revoked"):
                    auth_error = "The access token is invalid"
                elif store.is_revoked(PLATFORM, token):
                    auth_error = "The access token was revoked"
                else:
                    username = username_for(token)
            elif auth == "required":
                auth_error = "The access token is invalid"

            limit = store.limit_for(PLATFORM, "token")
            assert limit is not None
            if username is not None:
                key: tuple[str, ...] = (PLATFORM, "token", token or "")
            else:
                client = request.client
                key = (PLATFORM, "ip", client.host if client else "unknown")
            count, reset_at = store.windows.hit(key, limit, now)
            if count > limit.limit:
                sandbox.metrics.rate_limited.labels(PLATFORM).inc()
                return Response(
                    b'{"error":"Too many requests"}',
                    status_code=429,
                    headers=_rate_headers(limit.limit, 0, reset_at),
                    media_type="application/json",
                )
            headers = _rate_headers(limit.limit, limit.limit - count, reset_at)
            headers["Cache-Control"] = "private, no-store"
            headers["X-Request-Id"] = secrets.token_hex(16)
            if auth_error is not None and auth != "none":
                headers["WWW-Authenticate"] = (
                    f'Bearer realm="Doorkeeper", error="invalid_token", '
                    f'error_description="{auth_error}"'
                )
                return Response(
                    json_bytes({"error": auth_error}),
                    status_code=401,
                    headers=headers,
                    media_type=JSON,
                )
            if username is not None and auth == "required":
                assert token is not None
                if token.startswith("disabled"):
                    # Api::BaseController#require_user!
                    return Response(
                        json_bytes({"error": "Your login is currently disabled"}),
                        status_code=403,
                        headers=headers,
                        media_type=JSON,
                    )
                if write and token.startswith("readonly"):
                    # Doorkeeper's insufficient_scope, as Mastodon renders it.
                    message = "This action is outside the authorized scopes"
                    headers["WWW-Authenticate"] = (
                        f'Bearer realm="Doorkeeper", error="insufficient_scope", '
                        f'error_description="{message}"'
                    )
                    return Response(
                        json_bytes({"error": message}), status_code=403, headers=headers,
                        media_type=JSON,
                    )  # fmt: skip
            url = request.url
            base = f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}"
            ctx = Api(
                request=request,
                sandbox=sandbox,
                state=store.mastodon,
                now=now,
                token=token,
                username=username,
                headers=headers,
                base=base,
                host=url.hostname or "localhost",
            )
            if username is not None:
                store.mastodon.account(username)
            response = await handler(ctx)
            if ctx.hold_seconds > 0:
                # timeout_after_commit: the status exists; answer later than the client waits.
                await asyncio.sleep(ctx.hold_seconds)
            return response

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


async def _params(request: Request) -> dict[str, Any]:
    """Parameters as Rails sees them: query string merged with a JSON, form or multipart body;
    ``name[]`` collects a list."""
    params: dict[str, Any] = {}

    def add(name: str, value: Any) -> None:
        if name.endswith("[]"):
            params.setdefault(name[:-2], [])
            if isinstance(params[name[:-2]], list):
                params[name[:-2]].append(value)
        else:
            params[name] = value

    for name, value in request.query_params.multi_items():
        add(name, value)
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        body = await request.body()
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                raise _BadParams from None
            if isinstance(data, dict):
                params.update(data)
    elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        try:
            form = await request.form(max_part_size=_MAX_FORM_PART)
        except HTTPException:
            raise _BadParams from None
        for name, value in form.multi_items():
            add(name, value)
    return params


class _BadParams(Exception):
    pass


def _bad_params(ctx: Api) -> Response:
    return ctx.error(400, "Error occurred while parsing request parameters")


def _truthy(value: Any) -> bool | None:
    """ActiveModel::Type::Boolean: blank -> nil, "false"/"0"/"f"/"off" -> false, else true."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text == "":
        return None
    return text.lower() not in _FALSE


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return ""


def _int_id(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- faults


async def _fault(ctx: Api, read: bool = False) -> Response | None:
    """Apply the fault configuration to this write request (or, with ``read``, to a read of a
    status's or an account's counts). Returns the injected error response, or None to go on
    (``ctx.pending_hold`` is set for timeout_after_commit; a read is then answered late)."""
    decision = ctx.sandbox.faults.decide(PLATFORM, ctx.username, read=read)
    if decision is None:
        return None
    if decision.latency > 0:
        await asyncio.sleep(decision.latency)
    kind = decision.kind
    if kind == "ok":
        return None
    ctx.sandbox.fault_injected(PLATFORM, kind)
    log.debug("fault_injected", platform=PLATFORM, kind=kind, account=ctx.username)
    if kind == "timeout_after_commit":
        ctx.pending_hold = decision.timeout_seconds
        if read:
            ctx.hold_seconds = decision.timeout_seconds
        return None
    if kind == "interrupt":
        return DroppedConnection()
    if kind == "timeout":
        await asyncio.sleep(decision.timeout_seconds)
        return nginx_error_page(504)
    if kind == "429":
        # Rack::Attack's throttled response: JSON error, the limit, nothing remaining and when
        # the window resets; Mastodon sends no Retry-After.
        limit = ctx.sandbox.store.limit_for(PLATFORM, "token")
        assert limit is not None
        return Response(
            b'{"error":"Too many requests"}',
            status_code=429,
            headers=_rate_headers(limit.limit, 0, ctx.now + decision.retry_after),
            media_type="application/json",
        )
    if kind == "500":
        accept = ctx.request.headers.get("accept", "")
        if "json" in accept:
            return ctx.json({"status": 500, "error": "Internal Server Error"}, 500)
        return HTMLResponse(_RAILS_500, status_code=500)
    if kind == "503":
        return ctx.error(
            503, "There was a temporary problem serving your request, please try again"
        )
    assert kind in ERROR_CODES
    return nginx_error_page(int(kind))


_RAILS_500 = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    "<title>We're sorry, but something went wrong (500)</title>\n</head>\n<body>\n"
    '<div class="dialog"><h1>We\'re sorry, but something went wrong.</h1></div>\n'
    "</body>\n</html>\n"
)


# --------------------------------------------------------------------------- entities


def _account_json(ctx: Api, account: MastodonAccount) -> dict[str, Any]:
    username = account.username
    url = f"{ctx.base}/@{username}"
    last = account.last_status_at
    return {
        "id": str(account.id),
        "username": username,
        "acct": username,
        "display_name": username.replace("_", " ").title(),
        "locked": False,
        "bot": False,
        "discoverable": True,
        "indexable": False,
        "group": False,
        "created_at": iso_millis(account.created_at),
        "note": "<p>Akun sandbox Siar.</p>",
        "url": url,
        "uri": f"{ctx.base}/users/{username}",
        "avatar": f"{ctx.base}/avatars/original/missing.png",
        "avatar_static": f"{ctx.base}/avatars/original/missing.png",
        "header": f"{ctx.base}/headers/original/missing.png",
        "header_static": f"{ctx.base}/headers/original/missing.png",
        "followers_count": account.followers_count
        + engagement.grown("followers", username, ctx.sandbox.store.now() - account.seen_at),
        "following_count": account.following_count,
        "statuses_count": account.statuses_count,
        "last_status_at": time.strftime("%Y-%m-%d", time.gmtime(last)) if last else None,
        "hide_collections": False,
        "noindex": False,
        "emojis": [],
        "roles": [],
        "fields": [],
    }


def _id_path(media_id: int) -> str:
    digits = str(media_id).rjust(18, "0")
    return "/".join(digits[i : i + 3] for i in range(0, len(digits), 3))


def _media_json(media: MastodonMedia, now: float) -> dict[str, Any]:
    ready = now >= media.ready_at
    stem = media.file_name.rsplit(".", 1)[0]
    files = f"{media.base_url}/system/media_attachments/files/{_id_path(media.id)}"
    meta: dict[str, Any] | None = None
    url = preview = None
    if ready:
        url = f"{files}/original/{media.file_name}"
        preview_ext = "png" if media.mime == "image/png" else "jpg"
        preview = f"{files}/small/{stem}.{preview_ext}"
        width, height = media.width or DEFAULT_SIZE[0], media.height or DEFAULT_SIZE[1]
        small_w, small_h = fit_within(width, height, 640)
        original = {"width": width, "height": height, "size": f"{width}x{height}",
                    "aspect": width / height}  # fmt: skip
        small = {"width": small_w, "height": small_h, "size": f"{small_w}x{small_h}",
                 "aspect": small_w / small_h}  # fmt: skip
        if media.type in ("video", "gifv"):
            original.update({"frame_rate": "30/1", "duration": 10.0, "bitrate": 1_000_000})
            meta = {"length": "0:00:10.00", "duration": 10.0, "fps": 30, "size": f"{width}x{height}",
                    "width": width, "height": height, "aspect": width / height,
                    "original": original, "small": small}  # fmt: skip
            if media.type == "video":
                meta.update({"audio_encode": "aac (LC) (mp4a / 0x6134706D)",
                             "audio_bitrate": "44100 Hz", "audio_channels": "stereo"})  # fmt: skip
        elif media.type == "audio":
            meta = {"length": "0:00:10.00", "duration": 10.0, "original": {"duration": 10.0}}
        else:
            meta = {"original": original, "small": small}
        if media.focus is not None:
            meta["focus"] = {"x": media.focus[0], "y": media.focus[1]}
    return {
        "id": str(media.id),
        "type": media.type,
        "url": url,
        "preview_url": preview,
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": meta,
        "description": media.description,
        "blurhash": _BLURHASH if ready and media.type != "audio" else None,
    }


def _status_json(ctx: Api, status: MastodonStatus, source: bool = False) -> dict[str, Any]:
    state = ctx.state
    account = state.accounts[status.account]
    own = ctx.username == status.account
    base = status.base_url
    age = (status.deleted_at or ctx.sandbox.store.now()) - status.created_at
    body: dict[str, Any] = {
        "id": str(status.id),
        "created_at": iso_millis(status.created_at),
        "in_reply_to_id": str(status.in_reply_to_id) if status.in_reply_to_id else None,
        "in_reply_to_account_id": (
            str(status.in_reply_to_account_id) if status.in_reply_to_account_id else None
        ),
        "sensitive": status.sensitive,
        "spoiler_text": status.spoiler_text,
        "visibility": status.visibility,
        "language": status.language,
        "uri": f"{base}/users/{status.account}/statuses/{status.id}",
        "url": f"{base}/@{status.account}/{status.id}",
        # Real replies plus the audience's, growing since publication like the rest (engagement.py).
        "replies_count": status.replies_count + engagement.grown("replies", str(status.id), age),
        "reblogs_count": engagement.grown("reblogs", str(status.id), age),
        "favourites_count": engagement.grown("favourites", str(status.id), age),
        "edited_at": None,
    }
    if ctx.username is not None:
        body.update({"favourited": False, "reblogged": False, "muted": False, "bookmarked": False})
        if own and status.visibility in ("public", "unlisted", "private"):
            body["pinned"] = False
    if source:
        body["text"] = status.text
    else:
        body["content"] = status.content
    if ctx.username is not None:
        body["filtered"] = []
    body["reblog"] = None
    if own:
        body["application"] = {"name": "Siar", "website": None}
    body["account"] = _account_json(ctx, account)
    body["media_attachments"] = [
        _media_json(state.media[mid], ctx.now) for mid in status.media_ids if mid in state.media
    ]
    mentions = []
    for name in status.mentions:
        mentioned = state.accounts.get(name)
        if mentioned is not None:
            mentions.append({"id": str(mentioned.id), "username": name,
                             "url": f"{base}/@{name}", "acct": name})  # fmt: skip
    body["mentions"] = mentions
    body["tags"] = [{"name": t, "url": f"{base}/tags/{t.lower()}"} for t in status.tags]
    body["emojis"] = []
    body["card"] = None
    body["poll"] = None
    return body


def _visible(ctx: Api, status: MastodonStatus) -> bool:
    if status.deleted_at is not None:
        return False
    if status.visibility in ("public", "unlisted"):
        return True
    return ctx.username == status.account


# --------------------------------------------------------------------------- instance


@api(auth="none")
async def instance_v2(ctx: Api) -> Response:
    config = ctx.state.instance
    return ctx.json(
        {
            "domain": ctx.request.url.netloc,
            "title": "Siar Sandbox",
            "version": "4.3.0",
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "An imitation of a Mastodon server for Siar's tests and benchmarks.",
            "usage": {"users": {"active_month": len(ctx.state.accounts)}},
            "thumbnail": {"url": f"{ctx.base}/packs/media/images/preview.png"},
            "icon": [],
            "languages": ["id", "en"],
            "configuration": {
                "urls": {
                    "streaming": f"ws://{ctx.request.url.netloc}",
                    "status": None,
                    "about": f"{ctx.base}/about",
                    "privacy_policy": f"{ctx.base}/privacy-policy",
                    "terms_of_service": None,
                },
                "vapid": {"public_key": "BPx6rHd0yF5yqZ2XlBVy3-sandbox-vapid-key-not-for-push"},
                "accounts": {
                    "max_note_length": 500,
                    "max_featured_tags": 10,
                    "max_pinned_statuses": 5,
                    "max_profile_fields": 4,
                    "profile_field_name_limit": 255,
                    "profile_field_value_limit": 255,
                },
                "statuses": {
                    "max_characters": config["max_characters"],
                    "max_media_attachments": config["max_media_attachments"],
                    "characters_reserved_per_url": config["characters_reserved_per_url"],
                },
                "media_attachments": {
                    "description_limit": config["description_limit"],
                    "image_matrix_limit": 33_177_600,
                    "image_size_limit": config["image_size_limit"],
                    "supported_mime_types": SUPPORTED_MIME_TYPES,
                    "video_frame_rate_limit": 120,
                    "video_matrix_limit": 8_294_400,
                    "video_size_limit": config["video_size_limit"],
                },
                "polls": {
                    "max_options": 4,
                    "max_characters_per_option": 50,
                    "min_expiration": 300,
                    "max_expiration": 2_629_746,
                },
                "translation": {"enabled": False},
            },
            "registrations": {
                "enabled": False,
                "approval_required": False,
                "reason_required": False,
                "message": None,
                "min_age": None,
                "url": None,
            },
            "api_versions": {"mastodon": 2},
            "contact": {"email": "sandbox@siar.invalid", "account": None},
            "rules": [],
        }
    )


# --------------------------------------------------------------------------- statuses


@api(write=True)
async def create_status(ctx: Api) -> Response:
    try:
        params = await _params(ctx.request)
    except _BadParams:
        return _bad_params(ctx)
    injected = await _fault(ctx)
    if injected is not None:
        return injected

    state = ctx.state
    store = ctx.sandbox.store
    username = ctx.username
    assert username is not None
    now = time.time()
    ctx.now = now

    parent: MastodonStatus | None = None
    reply_to = params.get("in_reply_to_id")
    if reply_to not in (None, ""):
        parent_id = _int_id(reply_to)
        parent = state.statuses.get(parent_id) if parent_id is not None else None
        if parent is None or not _visible(ctx, parent):
            return ctx.error(404, "Record not found")

    key = ctx.request.headers.get("idempotency-key") or None
    if key is not None:
        seen = state.idempotency.get((username, key))
        if seen is not None:
            status_id, expires_at = seen
            if expires_at > now:
                existing = state.statuses.get(status_id)
                if existing is None or existing.deleted_at is not None:
                    return ctx.error(404, "Record not found")
                return ctx.json(_status_json(ctx, existing))
            del state.idempotency[(username, key)]

    config = state.instance
    media: list[MastodonMedia] = []
    raw_media = params.get("media_ids")
    if isinstance(raw_media, list) and raw_media:
        if len(raw_media) > config["max_media_attachments"]:
            return ctx.error(
                422, f"Cannot attach more than {config['max_media_attachments']} files"
            )
        wanted = [_int_id(m) or 0 for m in raw_media]
        missing = []
        for media_id in wanted:
            found = state.media.get(media_id)
            if found is None or found.account != username or found.status_id is not None:
                missing.append(str(media_id))
            elif found not in media:
                media.append(found)
        if missing:
            return ctx.error(
                422, f"Media {', '.join(missing)} not found or already attached to another post"
            )
        if len(media) > 1 and any(m.type in ("video", "audio") for m in media):
            return ctx.error(422, "Cannot attach a video to a post that already contains images")
        if any(now < m.ready_at for m in media):
            return ctx.error(
                422, "Cannot attach files that have not finished processing. Try again in a moment!"
            )

    text = _text(params.get("status")).strip()
    spoiler_text = _text(params.get("spoiler_text")).strip()
    if not text and not media:
        return ctx.error(422, "Validation failed: Text can't be blank")
    limit = config["max_characters"]
    if countable_length(text, spoiler_text, config["characters_reserved_per_url"]) > limit:
        return ctx.error(422, f"Validation failed: Text character limit of {limit} exceeded")
    visibility = _text(params.get("visibility")).strip() or "public"
    if visibility not in VISIBILITIES:
        return ctx.error(422, "Validation failed: Visibility is not included in the list")
    language = _text(params.get("language")).strip().lower()
    if not _LANGUAGE_RE.match(language):
        language = "en"
    sensitive = bool(_truthy(params.get("sensitive"))) or bool(spoiler_text)

    family = store.limit_for(PLATFORM, "statuses")
    if family is not None:
        family_key = (PLATFORM, "statuses", username)
        used, reset_at = store.windows.count(family_key, family, now)
        if used >= family.limit:
            ctx.sandbox.metrics.rate_limited.labels(PLATFORM).inc()
            ctx.headers.update(_rate_headers(family.limit, 0, reset_at))
            return ctx.error(429, "Too Many Requests")
        used, reset_at = store.windows.hit(family_key, family, now)
        if family.limit - used < int(ctx.headers["X-RateLimit-Remaining"]):
            ctx.headers.update(_rate_headers(family.limit, family.limit - used, reset_at))

    # Commit: nothing below awaits, so concurrent requests with one key cannot both get here.
    account = state.accounts[username]
    status_id = state.ids.next(now)
    content, mentions, tags = format_content(
        text,
        ctx.base,
        ctx.host,
        lambda name: f"{ctx.base}/@{name}" if name in state.accounts else None,
    )
    status = MastodonStatus(
        id=status_id,
        account=username,
        text=text,
        spoiler_text=spoiler_text,
        visibility=visibility,
        sensitive=sensitive,
        language=language,
        in_reply_to_id=parent.id if parent else None,
        in_reply_to_account_id=state.accounts[parent.account].id if parent else None,
        media_ids=[m.id for m in media],
        created_at=now,
        base_url=ctx.base,
        content=content,
        mentions=mentions,
        tags=tags,
        idempotency_key=key,
    )
    state.statuses[status_id] = status
    account.status_ids.append(status_id)
    account.statuses_count += 1
    account.last_status_at = now
    for m in media:
        m.status_id = status_id
    if parent is not None:
        parent.replies_count += 1
    if key is not None:
        state.idempotency[(username, key)] = (status_id, now + IDEMPOTENCY_SECONDS)
        if len(state.idempotency) % 10_000 == 0:
            _sweep_idempotency(state, now)
    url = f"{ctx.base}/@{username}/{status_id}"
    store.record_post(
        Post(
            platform=PLATFORM,
            account=username,
            id=str(status_id),
            text=text,
            media=[
                {"type": m.type, "id": str(m.id), "description": m.description, "mime_type": m.mime}
                for m in media
            ],
            idempotency_key=key,
            received_at=now,
            url=url,
        )
    )
    ctx.sandbox.metrics.posts_accepted.labels(PLATFORM).inc()
    ctx.hold_seconds = ctx.pending_hold
    return ctx.json(_status_json(ctx, status))


def _sweep_idempotency(state: MastodonState, now: float) -> None:
    expired = [k for k, (_, expires_at) in state.idempotency.items() if expires_at <= now]
    for k in expired:
        del state.idempotency[k]


def _find_status(ctx: Api) -> MastodonStatus | None:
    status_id = _int_id(ctx.request.path_params["id"])
    status = ctx.state.statuses.get(status_id) if status_id is not None else None
    if status is None or not _visible(ctx, status):
        return None
    return status


@api(auth="optional")
async def show_status(ctx: Api) -> Response:
    injected = await _fault(ctx, read=True)
    if injected is not None:
        return injected
    status = _find_status(ctx)
    if status is None:
        return ctx.error(404, "Record not found")
    return ctx.json(_status_json(ctx, status))


@api(write=True)
async def delete_status(ctx: Api) -> Response:
    status = _find_status(ctx)
    if status is None or status.account != ctx.username:
        return ctx.error(404, "Record not found")
    now = time.time()
    status.deleted_at = now
    account = ctx.state.accounts[status.account]
    account.statuses_count -= 1
    if status.in_reply_to_id:
        parent = ctx.state.statuses.get(status.in_reply_to_id)
        if parent is not None and parent.replies_count > 0:
            parent.replies_count -= 1
    for post in reversed(ctx.sandbox.store.posts):
        if post.platform == PLATFORM and post.id == str(status.id):
            post.deleted_at = now
            break
    return ctx.json(_status_json(ctx, status, source=True))


# --------------------------------------------------------------------------- accounts


@api()
async def verify_credentials(ctx: Api) -> Response:
    assert ctx.username is not None
    injected = await _fault(ctx, read=True)
    if injected is not None:
        return injected
    account = ctx.state.account(ctx.username)
    body = _account_json(ctx, account)
    body["source"] = {
        "privacy": "public",
        "sensitive": False,
        "language": None,
        "note": "Akun sandbox Siar.",
        "fields": [],
        "follow_requests_count": 0,
        "hide_collections": False,
        "discoverable": True,
        "indexable": False,
        "attribution_domains": [],
    }
    body["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
    return ctx.json(body)


def _account_from_path(ctx: Api) -> MastodonAccount | None:
    account_id = _int_id(ctx.request.path_params["id"])
    return ctx.state.accounts_by_id.get(account_id) if account_id is not None else None


@api(auth="optional")
async def show_account(ctx: Api) -> Response:
    injected = await _fault(ctx, read=True)
    if injected is not None:
        return injected
    account = _account_from_path(ctx)
    if account is None:
        return ctx.error(404, "Record not found")
    return ctx.json(_account_json(ctx, account))


@api(auth="optional")
async def account_statuses(ctx: Api) -> Response:
    """Newest first, ``limit`` (default 20, at most 40), ``max_id``/``since_id``/``min_id``
    pagination with a Link header, ``exclude_replies``, ``only_media``, ``pinned``."""
    account = _account_from_path(ctx)
    if account is None:
        return ctx.error(404, "Record not found")
    query = ctx.request.query_params
    raw_limit = query.get("limit")
    limit = 20 if raw_limit is None else min(abs(_int_id(raw_limit) or 0), 40)
    if _truthy(query.get("pinned")):
        return ctx.json([])
    exclude_replies = bool(_truthy(query.get("exclude_replies")))
    only_media = bool(_truthy(query.get("only_media")))
    max_id = _int_id(query.get("max_id")) if query.get("max_id") else None
    since_id = _int_id(query.get("since_id")) if query.get("since_id") else None
    min_id = _int_id(query.get("min_id")) if query.get("min_id") else None

    ids = account.status_ids
    statuses = ctx.state.statuses

    def wanted(status: MastodonStatus) -> bool:
        if not _visible(ctx, status):
            return False
        if exclude_replies and status.in_reply_to_id is not None:
            return False
        return not (only_media and not status.media_ids)

    page: list[MastodonStatus] = []
    if min_id is not None:
        start = bisect.bisect_right(ids, min_id)
        stop = bisect.bisect_left(ids, max_id) if max_id is not None else len(ids)
        for status_id in ids[start:stop]:
            status = statuses[status_id]
            if wanted(status):
                page.append(status)
                if len(page) >= limit:
                    break
        page.reverse()
    else:
        stop = bisect.bisect_left(ids, max_id) if max_id is not None else len(ids)
        floor = since_id if since_id is not None else -1
        for i in range(stop - 1, -1, -1):
            status_id = ids[i]
            if status_id <= floor or len(page) >= limit:
                break
            status = statuses[status_id]
            if wanted(status):
                page.append(status)
    if page:
        path = f"{ctx.base}/api/v1/accounts/{account.id}/statuses"
        extra = f"limit={raw_limit}&" if raw_limit is not None else ""
        ctx.headers["Link"] = (
            f'<{path}?{extra}max_id={page[-1].id}>; rel="next", '
            f'<{path}?{extra}min_id={page[0].id}>; rel="prev"'
        )
    return ctx.json([_status_json(ctx, s) for s in page])


# --------------------------------------------------------------------------- media


async def _upload(ctx: Api, asynchronous: bool) -> Response:
    content_type = ctx.request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        params: dict[str, Any] = {}
        try:
            params = await _params(ctx.request)
        except _BadParams:
            return _bad_params(ctx)
        form_file = None
    else:
        try:
            form = await ctx.request.form(max_part_size=_MAX_FORM_PART)
        except HTTPException:
            return _bad_params(ctx)
        params = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        form_file = form.get("file")
        if isinstance(form_file, str):
            form_file = None
    injected = await _fault(ctx)
    if injected is not None:
        return injected
    if form_file is None:
        return ctx.error(422, "Validation failed: File can't be blank")
    state = ctx.state
    config = state.instance
    head = await form_file.read(65_536)
    size = form_file.size if form_file.size is not None else len(head)
    mime = guess_mime(form_file.content_type, form_file.filename, head)
    kind = kind_of(mime)
    if mime not in SUPPORTED_MIME_TYPES:
        return ctx.error(422, "Validation failed: File content type is invalid, File is invalid")
    too_big = (
        config["video_size_limit"]
        if kind in ("video", "gifv", "audio")
        else config["image_size_limit"]
    )
    if mime == "image/gif":
        too_big = config["image_size_limit"]
    if size > too_big:
        return ctx.error(
            422, f"Validation failed: File file size must be less than {_human_size(too_big)}"
        )
    description = _text(params.get("description")) or None
    if description is not None and len(description) > config["description_limit"]:
        return ctx.error(
            422,
            f"Validation failed: Description is too long (maximum is {config['description_limit']} characters)",
        )
    focus = _focus(params.get("focus"))
    dims = image_size(head) if kind in ("image", "gifv") else None
    if dims is None and kind in ("video", "gifv"):
        dims = video_size(head)
    width, height = dims if dims else DEFAULT_SIZE
    now = time.time()
    processing = asynchronous and kind in ("video", "gifv", "audio")
    ready_at = now + float(config["media_processing_seconds"]) if processing else now
    extension = _EXTENSIONS.get(mime) or mime.split("/")[-1].replace("x-", "")
    assert ctx.username is not None
    media = MastodonMedia(
        id=state.ids.next(now),
        account=ctx.username,
        type=kind,
        mime=mime,
        size=size,
        file_name=f"{secrets.token_hex(8)}.{extension}",
        description=description,
        focus=focus,
        width=width,
        height=height,
        created_at=now,
        ready_at=ready_at,
        base_url=ctx.base,
    )
    state.media[media.id] = media
    ctx.hold_seconds = ctx.pending_hold
    return ctx.json(_media_json(media, now), 202 if processing else 200)


def _human_size(size: int) -> str:
    """Rails' number_to_human_size, enough for the limits: 10485760 -> '10 MB'."""
    units = ["Bytes", "KB", "MB", "GB"]
    value = float(size)
    unit = 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    text = f"{value:.3g}" if unit else str(size)
    return f"{text} {units[unit]}"


def _focus(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, str) or "," not in value:
        return None
    try:
        x, y = (float(part) for part in value.split(",", 1))
    except ValueError:
        return None
    return (max(-1.0, min(1.0, x)), max(-1.0, min(1.0, y)))


@api(write=True)
async def upload_media_v2(ctx: Api) -> Response:
    return await _upload(ctx, asynchronous=True)


@api(write=True)
async def upload_media_v1(ctx: Api) -> Response:
    return await _upload(ctx, asynchronous=False)


def _own_unattached_media(ctx: Api) -> MastodonMedia | None:
    media_id = _int_id(ctx.request.path_params["id"])
    media = ctx.state.media.get(media_id) if media_id is not None else None
    if media is None or media.account != ctx.username or media.status_id is not None:
        return None
    return media


@api()
async def show_media(ctx: Api) -> Response:
    media = _own_unattached_media(ctx)
    if media is None:
        return ctx.error(404, "Record not found")
    now = time.time()
    return ctx.json(_media_json(media, now), 200 if now >= media.ready_at else 206)


@api(write=True)
async def update_media(ctx: Api) -> Response:
    media = _own_unattached_media(ctx)
    if media is None:
        return ctx.error(404, "Record not found")
    try:
        params = await _params(ctx.request)
    except _BadParams:
        return _bad_params(ctx)
    if "description" in params:
        media.description = _text(params["description"]) or None
    if "focus" in params:
        media.focus = _focus(params["focus"])
    now = time.time()
    return ctx.json(_media_json(media, now), 200 if now >= media.ready_at else 206)


# --------------------------------------------------------------------------- fallbacks


@api(auth="none")
async def api_not_found(ctx: Api) -> Response:
    return ctx.error(404, "Not Found")


async def status_page(request: Request) -> Response:
    """The public web page of a status (what its ``url`` points at)."""
    state = sandbox_of(request).store.mastodon
    status_id = _int_id(request.path_params["id"])
    status = state.statuses.get(status_id) if status_id is not None else None
    if (
        status is None
        or status.account != request.path_params["username"]
        or status.deleted_at is not None
        or status.visibility not in ("public", "unlisted")
    ):
        return HTMLResponse("<!DOCTYPE html><html><body><h1>404</h1></body></html>", 404)
    return HTMLResponse(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>@{escape(status.account)}</title></head><body><article>"
        f"<header>@{escape(status.account)} · {iso_millis(status.created_at)}</header>"
        f"{status.content}</article></body></html>"
    )


routes = [
    Route("/api/v2/instance", instance_v2, methods=["GET"]),
    Route("/api/v1/statuses", create_status, methods=["POST"]),
    Route("/api/v1/statuses/{id}", show_status, methods=["GET"]),
    Route("/api/v1/statuses/{id}", delete_status, methods=["DELETE"]),
    Route("/api/v1/accounts/verify_credentials", verify_credentials, methods=["GET"]),
    Route("/api/v1/accounts/{id}/statuses", account_statuses, methods=["GET"]),
    Route("/api/v1/accounts/{id}", show_account, methods=["GET"]),
    Route("/api/v2/media", upload_media_v2, methods=["POST"]),
    Route("/api/v1/media", upload_media_v1, methods=["POST"]),
    Route("/api/v1/media/{id}", show_media, methods=["GET"]),
    Route("/api/v1/media/{id}", update_media, methods=["PUT"]),
    Route(
        "/api/{rest:path}",
        api_not_found,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    ),
    Route("/@{username}/{id}", status_page, methods=["GET"]),
]

"""An imitation of the Telegram Bot API, mounted under ``/telegram``:
``/telegram/bot<token>/<method>``.

As the real server (tdlib/telegram-bot-api) does: methods are case-insensitive and answer GET and
POST; parameters come from the query string, a JSON body, a form or multipart; every answer is
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": ...}``; a 429
carries ``parameters.retry_after`` and a ``Retry-After`` header.

Tokens: ``<digits>:<30-50 of A-Za-z0-9_->``. A token that is malformed the way the real server
checks (leading 0, no colon, a slash, over 80 characters) gets 401 "Unauthorized: invalid token
specified"; any other malformed token, one whose secret starts with ``revoked``, or one revoked
through the control API gets 401 "Unauthorized".

Chats: ``@name`` is a public channel whose id (-100…) is stable per name; numeric ids are
accepted too (-100… a channel, another negative id a group, a positive id a private chat).
The bot is an administrator allowed to post in every channel (the demo's ``@perpustakaan_demo``
too) and a member of every group, except: ``@notfound…`` -> 400 chat not found;
``@notmember…`` -> 403 not a member (``getChatMember`` says ``left``); ``@noadmin…`` -> 400 need
administrator rights (a plain ``member``); ``@nopost…`` -> 400 not enough rights (an
``administrator`` without ``can_post_messages``). ``getChatMember`` answers for the bot itself
(its id is the token's number) and, in a private chat, for that chat's user; any other user is
400 "user not found".

Files by URL are accepted without fetching, except the sandbox's own samples
(``…/_sandbox/media/<name>``, see samples.py), whose real size and kind are checked.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import engagement, samples
from .apikit import DroppedConnection
from .context import Sandbox, sandbox_of
from .mediainfo import DEFAULT_SIZE, fit_within, guess_mime, image_size
from .responses import json_bytes, nginx_error_page
from .store import Post, TelegramChat, TelegramFile, TelegramState
from .telegram_text import EntityParseError, format_text, utf16_len

PLATFORM = "telegram"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_UPLOAD_LIMIT = 10 * 1024 * 1024
REQUEST_LIMIT = 50 * 1024 * 1024
_TOKEN_RE = re.compile(r"^([1-9][0-9]{0,15}):([A-Za-z0-9_-]{30,50})$")
_USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
_FILE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{20,200}$")
_TRUE = {"true", "1"}

log = structlog.get_logger("siar_sandbox.telegram")


class TelegramError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


def error_response(code: int, description: str, retry_after: int | None = None) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    headers = None
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
        headers = {"Retry-After": str(retry_after)}
    return Response(
        json_bytes(body), status_code=code, headers=headers, media_type="application/json"
    )


def _bad(description: str) -> TelegramError:
    return TelegramError(400, f"Bad Request: {description}")


@dataclass(slots=True)
class Call:
    """One Bot API method call."""

    request: Request
    sandbox: Sandbox
    state: TelegramState
    token: str
    bot_id: int
    params: dict[str, Any]
    files: dict[str, UploadFile]
    now: float
    pending_hold: float = 0.0
    hold_seconds: float = 0.0

    def arg(self, name: str) -> str | None:
        value = self.params.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def flag(self, name: str) -> bool:
        value = self.params.get(name)
        if isinstance(value, bool):
            return value
        return value is not None and str(value).strip().lower() in _TRUE

    def number(self, name: str, low: int, high: int) -> int:
        try:
            value = int(float(self.arg(name) or 0))
        except ValueError:
            value = 0
        return max(low, min(high, value))

    def structured(self, name: str) -> Any:
        value = self.params.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return None
        return value


# --------------------------------------------------------------------------- reading requests


async def _read(request: Request) -> tuple[dict[str, Any], dict[str, UploadFile]]:
    params: dict[str, Any] = dict(request.query_params)
    files: dict[str, UploadFile] = {}
    if request.method in ("GET", "HEAD") and not request.headers.get("content-length"):
        return params, files
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > REQUEST_LIMIT:
        raise TelegramError(413, "Request Entity Too Large")
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("application/json"):
        body = await request.body()
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                raise _bad("can't parse JSON object") from None
            if not isinstance(data, dict):
                raise _bad("can't parse JSON object")
            params.update(data)
    elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        try:
            form = await request.form(max_part_size=REQUEST_LIMIT)
        except HTTPException:
            raise _bad("can't parse request body") from None
        for name, value in form.multi_items():
            if isinstance(value, str):
                params[name] = value
            else:
                files[name] = value
    return params, files


# --------------------------------------------------------------------------- endpoint


def _token_error(sandbox: Sandbox, token: str) -> str | None:
    if not token or token[0] == "0" or len(token) > 80 or "/" in token or ":" not in token:
        return "Unauthorized: invalid token specified"
    match = _TOKEN_RE.match(token)
    if (
        match is None
        or match.group(2).startswith("revoked")
        or sandbox.store.is_revoked(PLATFORM, token)
    ):
        return "Unauthorized"
    return None


async def bot_method(request: Request) -> Response:
    sandbox = sandbox_of(request)
    token = request.path_params["token"]
    problem = _token_error(sandbox, token)
    if problem is not None:
        return error_response(401, problem)
    try:
        params, files = await _read(request)
    except TelegramError as exc:
        if exc.code == 413:
            return nginx_error_page(413)
        return error_response(exc.code, exc.description)
    method = request.path_params.get("method") or str(params.get("method") or "")
    handler = METHODS.get(method.lower())
    if handler is None:
        return error_response(404, "Not Found")
    call = Call(
        request=request,
        sandbox=sandbox,
        state=sandbox.store.telegram,
        token=token,
        bot_id=int(token.split(":", 1)[0]),
        params=params,
        files=files,
        now=time.time(),
    )
    try:
        result = await handler(call)
    except TelegramError as exc:
        response = error_response(exc.code, exc.description, exc.retry_after)
    except _Injected as injected:
        response = injected.response
    else:
        response = Response(
            json_bytes({"ok": True, "result": result}), media_type="application/json"
        )
    if call.hold_seconds > 0:
        # timeout_after_commit: the message exists; answer later than the client waits.
        await asyncio.sleep(call.hold_seconds)
    return response


async def not_found(request: Request) -> Response:
    return error_response(404, "Not Found")


# --------------------------------------------------------------------------- faults


class _Injected(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("fault injected")
        self.response = response


async def _fault(call: Call, read: bool = False) -> None:
    """Apply the fault configuration to this write call (or, with ``read``, to a read of a chat's
    member count); raise _Injected with the response."""
    account = (call.arg("chat_id") or "").strip() or None
    decision = call.sandbox.faults.decide(PLATFORM, account, read=read)
    if decision is None:
        return
    if decision.latency > 0:
        await asyncio.sleep(decision.latency)
    kind = decision.kind
    if kind == "ok":
        return
    call.sandbox.fault_injected(PLATFORM, kind)
    log.debug("fault_injected", platform=PLATFORM, kind=kind, account=account)
    if kind == "timeout_after_commit":
        call.pending_hold = decision.timeout_seconds
        if read:
            call.hold_seconds = decision.timeout_seconds
        return
    if kind == "interrupt":
        raise _Injected(DroppedConnection())
    if kind == "timeout":
        await asyncio.sleep(decision.timeout_seconds)
        raise _Injected(nginx_error_page(504))
    if kind == "429":
        retry_after = max(1, decision.retry_after)
        raise TelegramError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
    if kind == "500":
        raise TelegramError(500, "Internal Server Error")
    raise _Injected(nginx_error_page(int(kind)))


def _flood(call: Call, chat: TelegramChat) -> None:
    """Configured flood limits: per chat (default scope) and per bot."""
    store = call.sandbox.store
    for scope, key in (("chat", str(chat.id)), ("bot", str(call.bot_id))):
        limit = store.limit_for(PLATFORM, scope)
        if limit is None:
            continue
        window_key = (PLATFORM, scope, key)
        count, reset_at = store.windows.hit(window_key, limit, call.now)
        if count > limit.limit:
            store.windows.undo(window_key)
            call.sandbox.metrics.rate_limited.labels(PLATFORM).inc()
            retry_after = max(1, math.ceil(reset_at - call.now))
            raise TelegramError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


# --------------------------------------------------------------------------- chats and messages


def _chat(call: Call) -> TelegramChat:
    raw = (call.arg("chat_id") or "").strip()
    if not raw:
        raise _bad("chat_id is empty")
    if raw.startswith("@"):
        name = raw[1:]
        if not _USERNAME_RE.match(name) or name.lower().startswith("notfound"):
            raise _bad("chat not found")
        return call.state.chat_for_name(name)
    try:
        chat_id = int(raw)
    except ValueError:
        raise _bad("chat not found") from None
    if chat_id == 0:
        raise _bad("chat not found")
    return call.state.chat_for_id(chat_id)


def _check_can_post(chat: TelegramChat) -> None:
    """What sending refuses, from the bot's place in the chat (:func:`_bot_status`, which
    getChatMember reports): so the two never disagree."""
    status = _bot_status(chat)
    if status == "left":
        raise TelegramError(403, "Forbidden: bot is not a member of the channel chat")
    if status == "no_post":
        raise _bad("not enough rights to send text messages to the chat")
    if status == "member" and chat.type == "channel":
        raise _bad("need administrator rights in the channel chat")


def _bot_status(chat: TelegramChat) -> str:
    """The bot's place in ``chat``: ``left``, ``member``, ``administrator`` or ``no_post`` (an
    administrator without the right to post)."""
    name = (chat.username or "").lower()
    if name.startswith("notmember"):
        return "left"
    if name.startswith("noadmin") or chat.type in ("private", "group"):
        return "member"
    if name.startswith("nopost"):
        return "no_post"
    return "administrator"


def _chat_json(chat: TelegramChat) -> dict[str, Any]:
    if chat.type == "private":
        body: dict[str, Any] = {"id": chat.id, "first_name": chat.title}
        if chat.username:
            body["username"] = chat.username
        body["type"] = "private"
        return body
    body = {"id": chat.id, "title": chat.title}
    if chat.username:
        body["username"] = chat.username
    body["type"] = chat.type
    return body


def _bot_json(call: Call) -> dict[str, Any]:
    return {
        "id": call.bot_id,
        "is_bot": True,
        "first_name": "Siar Sandbox",
        "username": f"siar_sandbox_{call.bot_id}_bot",
    }


def _message(call: Call, chat: TelegramChat) -> dict[str, Any]:
    chat.last_message_id += 1
    chat_body = _chat_json(chat)
    message: dict[str, Any] = {"message_id": chat.last_message_id}
    if chat.type == "channel":
        message["sender_chat"] = chat_body
    else:
        message["from"] = _bot_json(call)
    message["chat"] = chat_body
    message["date"] = int(call.now)
    if call.flag("protect_content"):
        message["has_protected_content"] = True
    return message


def _message_url(chat: TelegramChat, message_id: int) -> str | None:
    if chat.username:
        return f"https://t.me/{chat.username}/{message_id}"
    text = str(chat.id)
    if text.startswith("-100"):
        return f"https://t.me/c/{text[4:]}/{message_id}"
    return None


def _format(
    call: Call, text: str, mode_param: str = "parse_mode", entities_param: str = "entities"
) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities: from ``parse_mode``, or the explicit entities the caller sent
    (Telegram ignores parse_mode then), plus what Telegram detects by itself."""
    explicit = call.structured(entities_param)
    parse_mode = (call.arg(mode_param) or "").strip()
    if isinstance(explicit, list) and explicit:
        plain, found = format_text(text, None)
        given = [
            e
            for e in explicit
            if isinstance(e, dict)
            and isinstance(e.get("type"), str)
            and isinstance(e.get("offset"), int)
            and isinstance(e.get("length"), int)
            and e["length"] > 0
        ]
        spans = [(e["offset"], e["offset"] + e["length"]) for e in given]
        extra = [
            f
            for f in found
            if not any(a < f["offset"] + f["length"] and f["offset"] < b for a, b in spans)
        ]
        merged = sorted(given + extra, key=lambda e: (e["offset"], -e["length"]))
        return plain, merged
    if parse_mode and parse_mode.lower() not in ("html", "markdown", "markdownv2"):
        raise _bad("unsupported parse_mode")
    try:
        return format_text(text, parse_mode or None)
    except EntityParseError as exc:
        raise _bad(f"can't parse entities: {exc}") from None


def _commit(
    call: Call, chat: TelegramChat, first_id: int, text: str, media: list[dict[str, Any]]
) -> None:
    """Record the accepted post (a media group is one post) and arm a pending timeout."""
    store = call.sandbox.store
    store.record_post(
        Post(
            platform=PLATFORM,
            account=chat.account,
            id=str(first_id),
            text=text,
            media=media,
            idempotency_key=None,
            received_at=call.now,
            url=_message_url(chat, first_id),
        )
    )
    call.sandbox.metrics.posts_accepted.labels(PLATFORM).inc()
    call.hold_seconds = call.pending_hold


# --------------------------------------------------------------------------- files


def _new_file_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(48)


def _new_unique_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(9)


def _photo_file(state: TelegramState, width: int, height: int, size: int | None) -> TelegramFile:
    sizes: list[dict[str, Any]] = []
    longest = max(width, height)
    for box in (90, 320, 800, 1280, 2560):
        w, h = fit_within(width, height, box)
        estimate = max(1, (w * h) // 12)
        sizes.append(
            {
                "file_id": _new_file_id("AgACAgUAAxkDAAI"),
                "file_unique_id": _new_unique_id("AQAD"),
                "file_size": estimate,
                "width": w,
                "height": h,
            }
        )
        if longest <= box:
            break
    if size is not None:
        sizes[-1]["file_size"] = size
    largest = sizes[-1]
    photo = TelegramFile(
        kind="photo",
        file_id=largest["file_id"],
        unique_id=largest["file_unique_id"],
        size=largest["file_size"],
        width=largest["width"],
        height=largest["height"],
        sizes=sizes,
    )
    for entry in sizes:
        state.files[entry["file_id"]] = photo
    return photo


def _thumbnail(width: int, height: int) -> dict[str, Any]:
    w, h = fit_within(width, height, 320)
    return {
        "file_id": _new_file_id("AAMCBQADGQMAAg"),
        "file_unique_id": _new_unique_id("AQAD"),
        "file_size": max(1, (w * h) // 12),
        "width": w,
        "height": h,
    }


def _source(call: Call, name: str, value: Any = None) -> tuple[str, Any] | None:
    """Where a file comes from: ("upload", UploadFile) | ("url", str) | ("file_id", str)."""
    if value is None:
        upload = call.files.get(name)
        if upload is not None:
            return ("upload", upload)
        value = call.arg(name)
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if value.startswith("attach://"):
        upload = call.files.get(value[len("attach://") :])
        return ("upload", upload) if upload is not None else None
    if "." in value or "/" in value or ":" in value:
        return ("url", value)
    return ("file_id", value)


_KIND_NAMES = {"photo": "Photo", "video": "Video", "document": "Document", "audio": "Audio",
               "animation": "Animation"}


async def _file(call: Call, kind: str, source: tuple[str, Any]) -> TelegramFile:
    """Resolve a source into a stored file of ``kind``; raise TelegramError on bad input."""
    how, value = source
    state = call.state
    if how == "file_id":
        known = state.files.get(value)
        if known is not None:
            if known.kind != kind:
                raise _bad(
                    f"can't use file of type {_KIND_NAMES[known.kind]} as {_KIND_NAMES[kind]}"
                )
            return known
        if not _FILE_ID_RE.match(value):
            raise _bad("wrong file identifier/HTTP URL specified")
        # A plausible file_id this sandbox never issued: accepted, as an earlier upload.
        width, height = DEFAULT_SIZE
        if kind == "photo":
            return _photo_file(state, width, height, None)
        return _other_file(call, kind, value, None, None, None, width, height)
    if how == "url":
        if not value.lower().startswith(("http://", "https://")):
            raise _bad("wrong file identifier/HTTP URL specified")
        own = samples.from_url(value)
        if own is not None:
            # The sandbox's own sample media: known without fetching (the real server would
            # download the URL; a self-request from inside a handler could never be answered).
            return _sample_file(call, kind, *own)
        width, height = DEFAULT_SIZE
        name = value.rsplit("/", 1)[-1].split("?", 1)[0] or None
        if kind == "photo":
            return _photo_file(state, width, height, None)
        return _other_file(call, kind, None, None, name, guess_mime(None, name), width, height)
    upload: UploadFile = value
    head = await upload.read(65_536)
    size = upload.size if upload.size is not None else len(head)
    if size == 0:
        raise _bad("file must be non-empty")
    if kind == "photo":
        if size > PHOTO_UPLOAD_LIMIT:
            raise _bad(
                f"file of size {size} bytes is too big for a photo; "
                f"the maximum size is {PHOTO_UPLOAD_LIMIT} bytes"
            )
        dims = image_size(head)
        if dims is None:
            raise _bad("IMAGE_PROCESS_FAILED")
        width, height = dims
        if width + height > 10_000 or max(width, height) > 20 * max(1, min(width, height)):
            raise _bad("PHOTO_INVALID_DIMENSIONS")
        return _photo_file(state, width, height, size)
    mime = guess_mime(upload.content_type, upload.filename, head)
    width, height = DEFAULT_SIZE
    return _other_file(call, kind, None, size, upload.filename, mime, width, height)


# What the real server accepts when it downloads a URL for each kind (JPEG/PNG photos, MP4 video).
_URL_TYPES = {
    "photo": ("image/",),
    "video": ("video/mp4",),
    "animation": ("image/gif", "video/mp4"),
    "document": ("",),
    "audio": ("audio/",),
}


def _sample_file(call: Call, kind: str, name: str, sample: samples.Sample | None) -> TelegramFile:
    if sample is None:
        raise _bad("failed to get HTTP URL content")
    if not sample.content_type.startswith(_URL_TYPES[kind]):
        raise _bad("wrong type of the web page content")
    size = len(sample.data)
    if kind == "photo":
        return _photo_file(call.state, sample.width, sample.height, size)
    stored = _other_file(
        call, kind, None, size, name, sample.content_type, sample.width, sample.height
    )
    if kind in ("video", "animation") and sample.duration is not None and not call.arg("duration"):
        stored.duration = round(sample.duration)
    return stored


def _other_file(
    call: Call,
    kind: str,
    file_id: str | None,
    size: int | None,
    file_name: str | None,
    mime: str | None,
    width: int,
    height: int,
) -> TelegramFile:
    prefix, unique = {
        "video": ("BAACAgUAAxkDAAI", "AgAD"),
        "animation": ("CgACAgUAAxkDAAI", "AgAD"),
        "audio": ("CQACAgUAAxkDAAI", "AgAD"),
    }.get(kind, ("BQACAgUAAxkDAAI", "AgAD"))
    if kind in ("video", "animation"):
        width = call.number("width", 0, 10_000) or width
        height = call.number("height", 0, 10_000) or height
    stored = TelegramFile(
        kind=kind,
        file_id=file_id or _new_file_id(prefix),
        unique_id=_new_unique_id(unique),
        size=size,
        width=width,
        height=height,
        duration=call.number("duration", 0, 86_400),
        mime=mime or ("video/mp4" if kind == "video" else None),
        file_name=file_name,
        thumbnail=_thumbnail(width, height) if kind in ("video", "animation") else None,
    )
    call.state.files[stored.file_id] = stored
    return stored


def _file_json(stored: TelegramFile) -> dict[str, Any] | list[dict[str, Any]]:
    if stored.kind == "photo":
        return [dict(size) for size in stored.sizes]
    body: dict[str, Any] = {}
    if stored.kind in ("video", "audio", "animation"):
        body["duration"] = stored.duration
    if stored.kind in ("video", "animation"):
        body["width"] = stored.width
        body["height"] = stored.height
    if stored.file_name:
        body["file_name"] = stored.file_name
    if stored.mime:
        body["mime_type"] = stored.mime
    if stored.thumbnail is not None:
        body["thumbnail"] = dict(stored.thumbnail)
    body["file_id"] = stored.file_id
    body["file_unique_id"] = stored.unique_id
    if stored.size is not None:
        body["file_size"] = stored.size
    return body


def _media_record(stored: TelegramFile, source: tuple[str, Any]) -> dict[str, Any]:
    how, value = source
    record: dict[str, Any] = {"type": stored.kind, "file_id": stored.file_id, "source": how}
    if how == "url":
        record["url"] = value
    elif how == "upload":
        record["file_name"] = value.filename
        record["size"] = stored.size
    return record


# --------------------------------------------------------------------------- methods


async def get_me(call: Call) -> dict[str, Any]:
    body = _bot_json(call)
    body.update(
        {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
    )
    return body


async def send_message(call: Call) -> dict[str, Any]:
    await _fault(call)
    raw = call.arg("text")
    if not raw:
        raise _bad("message text is empty")
    text, entities = _format(call, raw)
    chat = _chat(call)
    _check_can_post(chat)
    if not text:
        raise _bad("message text is empty")
    if utf16_len(text) > TEXT_LIMIT:
        raise _bad("message is too long")
    _flood(call, chat)
    message = _message(call, chat)
    message["text"] = text
    if entities:
        message["entities"] = entities
        options = call.structured("link_preview_options")
        disabled = call.flag("disable_web_page_preview") or (
            isinstance(options, dict) and bool(options.get("is_disabled"))
        )
        if disabled and any(e["type"] in ("url", "text_link") for e in entities):
            message["link_preview_options"] = {"is_disabled": True}
    _commit(call, chat, message["message_id"], raw, [])
    return message


def _caption(call: Call, raw: str | None) -> tuple[str, list[dict[str, Any]]]:
    if not raw:
        return "", []
    return _format(call, raw, "parse_mode", "caption_entities")


async def _send_single(call: Call, kind: str) -> dict[str, Any]:
    await _fault(call)
    source = _source(call, kind)
    if source is None:
        raise _bad(f"there is no {kind} in the request")
    raw_caption = call.arg("caption")
    caption, caption_entities = _caption(call, raw_caption)
    chat = _chat(call)
    _check_can_post(chat)
    if utf16_len(caption) > CAPTION_LIMIT:
        raise _bad("message caption is too long")
    stored = await _file(call, kind, source)
    _flood(call, chat)
    message = _message(call, chat)
    message[kind] = _file_json(stored)
    if kind == "animation":  # the Bot API sends an animation as a document too, for old clients
        message["document"] = _file_json(stored)
    if caption:
        message["caption"] = caption
        if caption_entities:
            message["caption_entities"] = caption_entities
        if call.flag("show_caption_above_media"):
            message["show_caption_above_media"] = True
    if call.flag("has_spoiler"):
        message["has_media_spoiler"] = True
    _commit(call, chat, message["message_id"], raw_caption or "", [_media_record(stored, source)])
    return message


async def send_photo(call: Call) -> dict[str, Any]:
    return await _send_single(call, "photo")


async def send_video(call: Call) -> dict[str, Any]:
    return await _send_single(call, "video")


async def send_document(call: Call) -> dict[str, Any]:
    return await _send_single(call, "document")


async def send_animation(call: Call) -> dict[str, Any]:
    """A GIF or a silent MP4 that plays in a loop; sendPhoto would keep only a still of it."""
    return await _send_single(call, "animation")


_GROUP_TYPES = ("photo", "video", "document", "audio")


async def send_media_group(call: Call) -> list[dict[str, Any]]:
    await _fault(call)
    raw = call.params.get("media")
    if raw is None or raw == "":
        raise _bad('parameter "media" is required')
    if isinstance(raw, str):
        try:
            items = json.loads(raw)
        except ValueError:
            raise _bad("can't parse media JSON object") from None
    else:
        items = raw
    if items is None:
        items = []
    if not isinstance(items, list):
        raise _bad("expected an Array of InputMedia")
    if not items:
        raise _bad("there are no messages to send")
    if len(items) > 10:
        raise _bad("too many messages to send as an album")
    prepared: list[
        tuple[str, tuple[str, Any] | None, str, str, list[dict[str, Any]], dict[str, Any]]
    ] = []
    for item in items:
        if not isinstance(item, dict):
            raise _bad("can't parse InputMedia: expected an Object")
        kind = item.get("type")
        if not isinstance(kind, str):
            raise _bad('can\'t parse InputMedia: Field "type" must be of type String')
        if kind not in _GROUP_TYPES:
            if kind in ("animation", "voice", "video_note"):
                raise _bad(
                    f"can't parse InputMedia: type \"{kind}\" can't be used in sendMediaGroup"
                )
            raise _bad(f'can\'t parse InputMedia: type "{kind}" is unsupported')
        media_value = item.get("media")
        if not isinstance(media_value, str):
            raise _bad('can\'t parse InputMedia: Field "media" must be of type String')
        raw_caption = item.get("caption") if isinstance(item.get("caption"), str) else ""
        mode = item.get("parse_mode") if isinstance(item.get("parse_mode"), str) else ""
        if mode and mode.lower() not in ("html", "markdown", "markdownv2"):
            raise _bad("unsupported parse_mode")
        try:
            caption, entities = format_text(raw_caption, mode or None) if raw_caption else ("", [])
        except EntityParseError as exc:
            raise _bad(f"can't parse entities: {exc}") from None
        prepared.append(
            (kind, _source(call, "media", media_value), raw_caption, caption, entities, item)
        )
    kinds = {p[0] for p in prepared}
    for lonely in ("document", "audio"):
        if lonely in kinds and len(kinds) > 1:
            raise _bad(f"{lonely} can't be mixed with other media types")
    chat = _chat(call)
    _check_can_post(chat)
    for _, _, _, caption, _, _ in prepared:
        if utf16_len(caption) > CAPTION_LIMIT:
            raise _bad("message caption is too long")
    stored_files: list[TelegramFile] = []
    for number, (kind, source, *_rest) in enumerate(prepared, start=1):
        try:
            if source is None:
                raise _bad("wrong file identifier/HTTP URL specified")
            stored_files.append(await _file(call, kind, source))
        except TelegramError as exc:
            reason = exc.description.removeprefix("Bad Request: ")
            reason = reason[:1].upper() + reason[1:]
            raise _bad(
                f'failed to send message #{number} with the error message "{reason}"'
            ) from None
    _flood(call, chat)
    call.state.media_group_seq += 1
    seq = call.state.media_group_seq
    group_id = str(10**16 + (int(call.now * 1000) * 100 + seq % 100) % (9 * 10**16))
    messages = []
    media_records = []
    texts = []
    for (kind, source, raw_caption, caption, entities, item), stored in zip(
        prepared, stored_files, strict=True
    ):
        message = _message(call, chat)
        message["media_group_id"] = group_id
        message[kind] = _file_json(stored)
        if caption:
            message["caption"] = caption
            if entities:
                message["caption_entities"] = entities
            if item.get("show_caption_above_media") is True:
                message["show_caption_above_media"] = True
        if item.get("has_spoiler") is True:
            message["has_media_spoiler"] = True
        messages.append(message)
        assert source is not None
        media_records.append(_media_record(stored, source))
        if raw_caption:
            texts.append(raw_caption)
    _commit(call, chat, messages[0]["message_id"], "\n".join(texts), media_records)
    return messages


async def get_chat(call: Call) -> dict[str, Any]:
    chat = _chat(call)
    body = _chat_json(chat)
    if chat.username:
        body["active_usernames"] = [chat.username]
    if chat.type != "private":
        body["description"] = f"Kanal sandbox {chat.title}"
    body["accent_color_id"] = abs(chat.id) % 7
    body["max_reaction_count"] = 11
    body["accepted_gift_types"] = {
        "unlimited_gifts": False,
        "limited_gifts": False,
        "unique_gifts": False,
        "premium_subscription": False,
    }
    return body


def _administrator(chat: TelegramChat, can_post: bool) -> dict[str, Any]:
    """ChatMemberAdministrator's rights, as the Bot API lists them for the chat's type."""
    rights: dict[str, Any] = {
        "can_be_edited": False,
        "can_manage_chat": True,
        "can_change_info": True,
        "can_delete_messages": True,
        "can_invite_users": True,
        "can_restrict_members": True,
        "can_promote_members": False,
        "can_manage_video_chats": True,
        "can_post_stories": True,
        "can_edit_stories": True,
        "can_delete_stories": True,
        "is_anonymous": False,
    }
    if chat.type == "channel":
        rights["can_post_messages"] = can_post
        rights["can_edit_messages"] = can_post
    else:
        rights["can_pin_messages"] = True
    return rights


async def get_chat_member(call: Call) -> dict[str, Any]:
    """A ChatMember: ``{"user", "status", …rights}`` (ChatMemberAdministrator,
    ChatMemberMember or ChatMemberLeft)."""
    chat = _chat(call)
    raw = (call.arg("user_id") or "").strip()
    try:
        user_id = int(raw)
    except ValueError:
        raise _bad("invalid user_id specified") from None
    if user_id == call.bot_id:
        status = _bot_status(chat)
        body: dict[str, Any] = {"user": _bot_json(call)}
        if status == "administrator" or status == "no_post":
            body["status"] = "administrator"
            body.update(_administrator(chat, can_post=status == "administrator"))
        else:
            body["status"] = status
        return body
    if chat.type == "private" and user_id == chat.id:
        return {"user": {"id": chat.id, "is_bot": False, "first_name": chat.title}, "status": "member"}
    raise _bad("user not found")


async def get_chat_member_count(call: Call) -> int:
    """The channel's subscribers, growing since the sandbox first saw it (engagement.py)."""
    await _fault(call, read=True)
    chat = _chat(call)
    if chat.type == "private":
        return chat.member_count
    return chat.member_count + engagement.grown("members", str(chat.id), call.sandbox.store.now() - chat.seen_at)


METHODS = {
    "getme": get_me,
    "sendmessage": send_message,
    "sendphoto": send_photo,
    "sendvideo": send_video,
    "senddocument": send_document,
    "sendanimation": send_animation,
    "sendmediagroup": send_media_group,
    "getchat": get_chat,
    "getchatmember": get_chat_member,
    "getchatmembercount": get_chat_member_count,
    "getchatmemberscount": get_chat_member_count,
}

routes = [
    Route(
        "/bot{token}/{method}",
        bot_method,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    ),
    Route(
        "/{rest:path}",
        not_found,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    ),
]

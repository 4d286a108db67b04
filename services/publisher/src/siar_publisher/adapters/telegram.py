"""Telegram channels through the Bot API: sendMessage, sendPhoto, sendVideo, sendAnimation,
sendMediaGroup.

Facts from shared/platforms.md (Telegram): errors are ``{"ok":false,"error_code","description",
"parameters":{"retry_after"}}``; 401 is a bad token; "bot is not a member" (403) and "chat not
found" (400) are permanent; the Bot API cannot read a channel's history, so a send whose answer
was lost cannot be checked — Siar then reports it rather than risk posting twice.

Media is downloaded from the library's media host and uploaded (multipart/form-data), not passed
as a URL: by URL Telegram takes only photos up to 5 MB and other files up to 20 MB, and its
servers must reach the URL (a library's internal media host answers them "failed to get HTTP
URL content"). Uploads may be photos up to 10 MB and other files up to 50 MB (Bot API)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from siar_contracts import ErrorClass, MediaItem

from .base import (
    Account,
    Outgoing,
    PlatformError,
    Published,
    Verified,
    retry_after,
    transport_error,
)
from .mediafetch import Fetched, fetch_media

CAPTION_LIMIT = 1024
PHOTO_UPLOAD_BYTES = 10_000_000  # Bot API upload limits (platforms.md Telegram §3)
FILE_UPLOAD_BYTES = 50_000_000


class TelegramAdapter:
    platform = "telegram"
    required_credentials = ("bot_token",)
    required_settings = ("chat_id",)
    idempotent_publish = False  # the Bot API has no idempotency key and cannot read channel history

    def _url(self, account: Account, method: str) -> str:
        return f"{account.base_url.rstrip('/')}/bot{account.credentials['bot_token']}/{method}"

    def _error(self, response: httpx.Response) -> PlatformError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        code = body.get("error_code", response.status_code)
        description = body.get("description") or response.text[:300]
        detail = f"HTTP {response.status_code}: {description}"
        lowered = description.lower()
        if code == 429:
            seconds = (body.get("parameters") or {}).get("retry_after")
            return PlatformError(
                ErrorClass.RATE_LIMITED,
                "Telegram asked Siar to slow down; the post goes out when it allows",
                detail=detail,
                retry_at=retry_after(response.headers, seconds) or datetime.now(UTC) + timedelta(seconds=30),
                status=code,
            )
        if code == 401:
            return PlatformError(ErrorClass.AUTH_REVOKED,
                                 "Telegram no longer accepts this bot's token; connect the channel again",
                                 detail=detail, status=code)
        # 403 "bot is not a member" / "bot was kicked", and the 400s Telegram sends to a member
        # without the right to post ("need administrator rights", "not enough rights to ...").
        if code == 403 or any(s in lowered for s in ("administrator rights", "not enough rights")):
            return PlatformError(ErrorClass.PERMISSION_DENIED,
                                 "the Siar bot is not an administrator of this Telegram channel; add it and try again",
                                 detail=detail, status=code)
        if "chat not found" in lowered:
            return PlatformError(ErrorClass.TARGET_GONE, "Telegram cannot find this channel",
                                 detail=detail, status=code)
        if code >= 500:
            return PlatformError(ErrorClass.TRANSIENT, "Telegram had a problem; Siar will try again",
                                 detail=detail, status=code)
        return PlatformError(ErrorClass.INVALID_CONTENT, f"Telegram refused the post: {description}",
                             detail=detail, status=code)

    async def _call(self, client: httpx.AsyncClient, account: Account, method: str, body: dict,
                    files: dict[str, tuple[str, bytes, str]] | None = None) -> object:  # fmt: skip
        """One Bot API call: JSON, or multipart/form-data when it carries ``files``."""
        try:
            if files:
                form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
                response = await client.post(self._url(account, method), data=form, files=files)
            else:
                response = await client.post(self._url(account, method), json=body)
        except httpx.HTTPError as exc:
            raise transport_error(exc, "Telegram") from exc
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code != 200 or not data.get("ok"):
            raise self._error(response)
        return data["result"]

    async def verify(self, client: httpx.AsyncClient, account: Account) -> Verified:
        """getMe (the token), getChat (the chat) and getChatMember for the bot itself: a chat
        the bot may not post in is refused now, not at its first post."""
        chat_id = account.settings["chat_id"]
        me = await self._call(client, account, "getMe", {})
        chat = await self._call(client, account, "getChat", {"chat_id": chat_id})
        assert isinstance(me, dict) and isinstance(chat, dict)
        handle = f"@{chat['username']}" if chat.get("username") else str(chat.get("id"))
        bot = f"@{me['username']}" if me.get("username") else f"the bot {me.get('id')}"
        try:
            member = await self._call(client, account, "getChatMember", {"chat_id": chat_id, "user_id": me["id"]})
        except PlatformError as exc:
            # A chat whose members the bot may not read ("member list is inaccessible", 403 "bot
            # is not a member") is one it may not post in either.
            if exc.error_class not in (ErrorClass.PERMISSION_DENIED, ErrorClass.INVALID_CONTENT):
                raise
            raise PlatformError(ErrorClass.PERMISSION_DENIED,
                                f"{bot} is not an administrator of {handle}: add it as an administrator "
                                "allowed to post messages, then connect again",
                                detail=exc.detail, status=exc.status) from exc  # fmt: skip
        assert isinstance(member, dict)
        problem = _cannot_post(str(chat.get("type") or ""), member, bot, handle)
        if problem is not None:
            raise PlatformError(ErrorClass.PERMISSION_DENIED, problem,
                                detail=f"getChatMember: {_rights(member)}")  # fmt: skip
        return Verified(handle=handle, display_name=chat.get("title"),
                        limits={"max_characters": 4096, "max_caption": CAPTION_LIMIT})

    async def publish(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published:
        chat_id = account.settings["chat_id"]
        media = list(post.media)
        if not media:
            result = await self._call(client, account, "sendMessage", {"chat_id": chat_id, "text": post.text})
        elif len(media) == 1:
            item = media[0]
            # A GIF through sendPhoto would arrive as a still; sendAnimation keeps it moving.
            method, field = {"video": ("sendVideo", "video"), "gif": ("sendAnimation", "animation")}.get(
                item.kind, ("sendPhoto", "photo"))
            fetched = await _download(client, item)
            result = await self._call(client, account, method, {"chat_id": chat_id, "caption": post.text},
                                      {field: _part(fetched)})  # fmt: skip
        else:
            group: list[dict[str, Any]] = []
            files: dict[str, tuple[str, bytes, str]] = {}
            for n, item in enumerate(media):
                files[f"file{n}"] = _part(await _download(client, item))
                group.append({"type": "video" if item.kind == "video" else "photo", "media": f"attach://file{n}"})
            group[0]["caption"] = post.text
            result = await self._call(client, account, "sendMediaGroup", {"chat_id": chat_id, "media": group}, files)
        message = result[0] if isinstance(result, list) else result
        assert isinstance(message, dict)
        return Published(platform_post_id=str(message["message_id"]), url=_message_url(message))

    async def reconcile(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        raise PlatformError(
            ErrorClass.OUTCOME_UNKNOWN,
            "Telegram did not confirm this post and offers no way to check; look at the channel "
            "and send it again only if it is not there",
        )

    # --- insights (for the metrics service; shared/platforms.md item 6)

    async def insights(self, client: httpx.AsyncClient, account: Account, platform_post_id: str) -> dict[str, int]:
        """Nothing: the Bot API has no view or reaction counts for channel posts (those are only
        in the apps and MTProto), so Siar does not plan post readings for Telegram at all."""
        return {}

    async def audience(self, client: httpx.AsyncClient, account: Account) -> dict[str, int]:
        """getChatMemberCount: the channel's subscribers."""
        try:
            count = await self._call(client, account, "getChatMemberCount", {"chat_id": account.settings["chat_id"]})
        except PlatformError as exc:
            if exc.error_class == ErrorClass.OUTCOME_UNKNOWN:  # a read: nothing to reconcile
                raise PlatformError(ErrorClass.TRANSIENT, "Telegram did not answer in time; Siar will read again",
                                    detail=exc.detail) from exc
            if exc.error_class == ErrorClass.RATE_LIMITED:
                exc.reason = "Telegram asked Siar to slow down; the channel's subscribers will be read later"
            elif exc.error_class == ErrorClass.INVALID_CONTENT:
                exc.reason = f"Telegram refused to count the channel's subscribers: {exc.detail}"
            raise
        if not isinstance(count, int):
            raise PlatformError(ErrorClass.TRANSIENT, "Telegram answered getChatMemberCount without a number",
                                detail=repr(count)[:200])
        return {"member_count": count}


async def _download(client: httpx.AsyncClient, media: MediaItem) -> Fetched:
    """The file from the library's media host, refused before anything is sent when it is over
    what a bot may upload (a photo 10 MB, a video, animation or document 50 MB)."""
    photo = media.kind not in ("video", "gif")
    limit = PHOTO_UPLOAD_BYTES if photo else FILE_UPLOAD_BYTES
    too_big = (f"Telegram takes {'photos' if photo else 'videos and animations'} of up to {limit // 1_000_000} MB "
               f"from Siar; the file at {media.url} is larger: link a smaller one")  # fmt: skip
    return await fetch_media(client, media, limit=limit, too_large=too_big)


def _part(fetched: Fetched) -> tuple[str, bytes, str]:
    return (fetched.name, fetched.data, fetched.content_type)


def _cannot_post(chat_type: str, member: dict, bot: str, handle: str) -> str | None:
    """Why the bot, as ``member`` (a ChatMember) of a chat of ``chat_type``, cannot post there;
    None when it can. In a channel only its creator and administrators with
    ``can_post_messages`` post; in a group any member, unless restricted from sending."""
    status = member.get("status")
    if status == "creator":
        return None
    if status in ("left", "kicked"):
        where = "removed from" if status == "kicked" else "not a member of"
        return f"{bot} is {where} {handle}: add it as an administrator allowed to post messages, then connect again"
    if chat_type == "channel":
        if status != "administrator":
            return (f"{bot} is not an administrator of {handle}: make it an administrator allowed to post "
                    "messages, then connect again")  # fmt: skip
        if not member.get("can_post_messages"):
            return (f"{bot} is an administrator of {handle} but may not post messages: allow it to post "
                    "messages, then connect again")  # fmt: skip
        return None
    if status == "restricted" and not (member.get("is_member") and member.get("can_send_messages")):
        return f"{bot} may not send messages in {handle}: lift its restrictions, then connect again"
    return None


def _rights(member: dict) -> str:
    said = [f"status {member.get('status')}"]
    for name in ("can_post_messages", "can_send_messages", "is_member"):
        if name in member:
            said.append(f"{name} {str(member[name]).lower()}")
    return ", ".join(said)


def _message_url(message: dict) -> str | None:
    chat = message.get("chat") or {}
    if chat.get("username"):
        return f"https://t.me/{chat['username']}/{message['message_id']}"
    chat_id = str(chat.get("id", ""))
    if chat_id.startswith("-100"):
        return f"https://t.me/c/{chat_id[4:]}/{message['message_id']}"
    return None

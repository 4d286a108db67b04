"""Threads: container -> poll its status -> threads_publish.

Facts from shared/platforms.md (Threads): ``POST https://graph.threads.net/v1.0/{user-id}/threads``
with ``media_type`` TEXT | IMAGE | VIDEO | CAROUSEL, ``text``, ``image_url`` / ``video_url``,
``is_carousel_item`` and ``children``; ``GET /{container}?fields=status,error_message``
(IN_PROGRESS, FINISHED, ERROR, EXPIRED, PUBLISHED; error messages such as
FAILED_DOWNLOADING_VIDEO); ``POST /{user-id}/threads_publish?creation_id=``; the URL from
``GET /{id}?fields=permalink``; 250 posts per 24 h (``threads_publishing_limit``); long-lived
tokens last 60 days and are renewed with ``GET /refresh_access_token?grant_type=
th_refresh_token``; insights ``views, likes, replies, reposts, quotes, shares`` and the
account's ``followers_count`` through ``threads_insights``."""

from __future__ import annotations

from typing import Any

import httpx

from .base import Account, Outgoing, Verified
from .containers import ContainerAdapter, kind_of
from .graph import insight_values

STATUSES = ("IN_PROGRESS", "FINISHED", "ERROR", "EXPIRED", "PUBLISHED")


class ThreadsAdapter(ContainerAdapter):
    platform = "threads"
    name = "Threads"
    required_settings = ("threads_user_id",)
    owner_setting = "threads_user_id"
    create_edge = "threads"
    publish_edge = "threads_publish"
    list_edge = "threads"
    text_field = "text"
    status_fields = "status,error_message"
    refresh_grant = "th_refresh_token"
    insight_metrics = "views,likes,replies,reposts,quotes,shares"

    def container_steps(self, post: Outgoing) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        media = list(post.media)
        if not media:
            return [{"media_type": "TEXT", "text": post.text}], None

        def item(m, **extra: str) -> dict[str, Any]:
            if kind_of(m) == "video":
                return {"media_type": "VIDEO", "video_url": m.url, **extra}
            return {"media_type": "IMAGE", "image_url": m.url, **extra}

        if len(media) == 1:
            return [item(media[0], text=post.text)], None
        return [item(m, is_carousel_item="true") for m in media], {"media_type": "CAROUSEL", "text": post.text}

    def status_of(self, body: dict[str, Any]) -> tuple[str, str | None]:
        status = str(body.get("status") or "IN_PROGRESS")
        if status not in STATUSES:
            status = "IN_PROGRESS"
        return status, body.get("error_message")

    def profile_url(self, account: Account) -> str | None:
        return f"https://www.threads.net/@{account.handle}" if account.handle else None

    async def verify(self, client: httpx.AsyncClient, account: Account) -> Verified:
        owner = self._owner(account)
        user = await self._call(client, account, "GET", owner, params={"fields": "id,username,name"})
        limit = await self._call(client, account, "GET", owner, "threads_publishing_limit",
                                 params={"fields": "quota_usage,config"})  # fmt: skip
        limits: dict[str, int] = {}
        for entry in limit.get("data") or []:
            config = entry.get("config") if isinstance(entry, dict) else None
            if isinstance(config, dict):
                for key in ("quota_total", "quota_duration"):
                    if isinstance(config.get(key), int):
                        limits[key] = config[key]
        return Verified(
            handle=str(user.get("username") or owner), display_name=user.get("name"), limits=limits,
            token_expires_at=await self.token_expiry(client, account),
        )  # fmt: skip

    async def audience(self, client: httpx.AsyncClient, account: Account) -> dict[str, int]:
        body = await self._call(client, account, "GET", self._owner(account), "threads_insights",
                                params={"metric": "followers_count"})  # fmt: skip
        return {k: int(v) for k, v in insight_values(body).items()}

"""Instagram (content publishing): container -> wait for processing -> media_publish.

Facts from shared/platforms.md (Instagram): host graph.instagram.com (Instagram Login) or
graph.facebook.com (Facebook Login), the account's base URL with its version
(``https://graph.instagram.com/v21.0``); ``POST /{ig-user-id}/media`` with ``image_url`` +
``caption``, ``media_type=REELS`` + ``video_url``, or carousel items (``is_carousel_item``) and
``media_type=CAROUSEL`` + ``children``; ``GET /{container}?fields=status_code,status``;
``POST /{ig-user-id}/media_publish?creation_id=``; the URL only from ``GET
/{media}?fields=permalink``; 100 API posts per rolling 24 h (``content_publishing_limit``);
Instagram Login tokens last 60 days and are renewed with ``GET /refresh_access_token?
grant_type=ig_refresh_token``. Media rules (JPEG only, 2-10 carousel items, caption length)
are checked by siar_platforms before anything is sent. Insights of a post few people saw answer
``(#10) Not enough viewers`` (normal for a small account): no readings yet, ``{}``, never a
missing permission."""

from __future__ import annotations

from typing import Any

import httpx

from .base import Account, Outgoing, PlatformError, Verified
from .containers import ContainerAdapter, kind_of
from .graph import not_enough_viewers

STATUS_CODES = ("IN_PROGRESS", "FINISHED", "ERROR", "EXPIRED", "PUBLISHED")


class InstagramAdapter(ContainerAdapter):
    platform = "instagram"
    name = "Instagram"
    required_settings = ("ig_user_id",)
    owner_setting = "ig_user_id"
    create_edge = "media"
    publish_edge = "media_publish"
    list_edge = "media"
    text_field = "caption"
    status_fields = "status_code,status"
    refresh_grant = "ig_refresh_token"
    insight_metrics = "views,reach,saved,likes,comments,shares,total_interactions"

    def login(self, account: Account) -> str:
        """``instagram`` (Instagram Login, renewable tokens) or ``facebook`` (Facebook Login:
        the token is the Page's or the user's, renewed only by connecting again)."""
        login = account.settings.get("login")
        if login in ("instagram", "facebook"):
            return str(login)
        return "facebook" if "graph.facebook.com" in account.base_url else "instagram"

    def can_refresh(self, account: Account) -> bool:
        return self.login(account) == "instagram"

    def container_steps(self, post: Outgoing) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        media = list(post.media)
        if len(media) == 1:
            item = media[0]
            if kind_of(item) == "video":
                return [{"media_type": "REELS", "video_url": item.url, "caption": post.text,
                         "share_to_feed": "true"}], None  # fmt: skip
            return [{"image_url": item.url, "caption": post.text}], None
        items = []
        for item in media:
            if kind_of(item) == "video":
                items.append({"media_type": "VIDEO", "video_url": item.url, "is_carousel_item": "true"})
            else:
                items.append({"image_url": item.url, "is_carousel_item": "true"})
        return items, {"media_type": "CAROUSEL", "caption": post.text}

    def status_of(self, body: dict[str, Any]) -> tuple[str, str | None]:
        status = str(body.get("status_code") or "IN_PROGRESS")
        if status not in STATUS_CODES:
            status = "IN_PROGRESS"
        return status, body.get("status")

    def profile_url(self, account: Account) -> str | None:
        return f"https://www.instagram.com/{account.handle}/" if account.handle else None

    async def verify(self, client: httpx.AsyncClient, account: Account) -> Verified:
        owner = self._owner(account)
        user = await self._call(client, account, "GET", owner, params={"fields": "id,username,name"})
        limit = await self._call(client, account, "GET", owner, "content_publishing_limit",
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

    async def insights(self, client: httpx.AsyncClient, account: Account, platform_post_id: str) -> dict[str, int | float]:
        """The post's insights; ``{}`` (no readings yet, as for any post without numbers) while
        Instagram says there are not enough viewers to show them."""
        try:
            return await super().insights(client, account, platform_post_id)
        except PlatformError as exc:
            if not_enough_viewers(exc):
                return {}
            raise

    async def audience(self, client: httpx.AsyncClient, account: Account) -> dict[str, int]:
        body = await self._call(client, account, "GET", self._owner(account),
                                params={"fields": "followers_count,follows_count,media_count"})  # fmt: skip
        return {k: v for k, v in body.items() if k != "id" and isinstance(v, int) and not isinstance(v, bool)}

"""Facebook Pages: ``/{page-id}/feed`` for text and photos, ``/{page-id}/videos`` for a video.

Facts from shared/platforms.md (Facebook Page): the Page token as ``access_token``; photos are
uploaded unpublished (``POST /{page-id}/photos {url, published:false}``) and attached to the feed
post with ``attached_media:[{media_fbid}]``; a video is ``POST /{page-id}/videos {file_url,
description}`` whose ``status.video_status`` is polled; ``fields=id,permalink_url`` on the POST
gives the URL; no idempotency key (506 only catches an identical consecutive post), so a post
whose answer was lost is looked for among the Page's recent posts; Page tokens do not expire.
Post insights ``post_total_media_view_unique, post_media_view, post_reactions_by_type_total,
post_clicks`` (the ``*_impressions*`` metrics are deprecated); a video (a bare id) has no
``insights`` edge (``(#100) Tried accessing nonexisting field (insights)``) but ``/{video-id}/
video_insights`` (``total_video_views, total_video_views_unique,
total_video_reactions_by_type_total``: developers.facebook.com/docs/video-api/guides/insights);
comments and shares are not insights but fields of the post: ``comments.limit(0).summary(true)``
(``summary.total_count``) and ``shares`` (``{"count"}``, absent while nobody shared the post; a
video has no such field). A server error (5xx, code 1/2) answering ``/feed`` or ``/videos`` may
come while the post is live (arsduo/koala#699): the outcome is unknown and the next attempt
looks among the Page's posts first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from siar_contracts import ErrorClass

from .base import Account, Outgoing, PlatformError, Published, Verified
from .containers import credentials_expiry
from .graph import cannot_tell, find_by_text, insight_values, poll, request

POST_METRICS = "post_total_media_view_unique,post_media_view,post_reactions_by_type_total,post_clicks"
VIDEO_METRICS = "total_video_views,total_video_views_unique,total_video_reactions_by_type_total"
COMMENTS_FIELD = "comments.limit(0).summary(true)"


class FacebookAdapter:
    platform = "facebook"
    name = "Facebook"
    required_credentials = ("access_token",)
    required_settings = ("page_id",)
    processing_wait_seconds = 20.0
    poll_first_delay = 0.5

    def _url(self, account: Account, *path: str) -> str:
        return "/".join([account.base_url.rstrip("/"), *path])

    def _page(self, account: Account) -> str:
        return str(account.settings["page_id"])

    async def _call(self, client: httpx.AsyncClient, account: Account, method: str, *path: str,
                    creates: bool = False, **kwargs: Any) -> dict[str, Any]:  # fmt: skip
        return await request(client, method, self._url(account, *path), self.name,
                             token=account.credentials["access_token"], creates=creates, **kwargs)  # fmt: skip

    def _page_url(self, account: Account) -> str:
        return f"https://www.facebook.com/{account.handle or self._page(account)}"

    @staticmethod
    def _absolute(url: Any) -> str | None:
        if not isinstance(url, str) or not url:
            return None
        return url if url.startswith("http") else "https://www.facebook.com" + url

    async def verify(self, client: httpx.AsyncClient, account: Account) -> Verified:
        page = await self._call(client, account, "GET", self._page(account),
                                params={"fields": "id,name,username,link"})  # fmt: skip
        token = account.credentials["access_token"]
        try:
            debug = await self._call(client, account, "GET", "debug_token", params={"input_token": token})
        except PlatformError:
            debug = {}
        data = debug.get("data") if isinstance(debug.get("data"), dict) else {}
        expires = data.get("expires_at")
        expires_at = (datetime.fromtimestamp(expires, UTC) if isinstance(expires, int | float) and expires > 0
                      else None if data.get("is_valid") else credentials_expiry(account.credentials))  # fmt: skip
        return Verified(handle=str(page.get("username") or page.get("id") or self._page(account)),
                        display_name=page.get("name"), token_expires_at=expires_at)  # fmt: skip

    # --- publishing

    async def publish(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published:
        media = list(post.media)
        if len(media) == 1 and media[0].kind == "video":
            return await self._publish_video(client, account, post)
        photo_ids = []
        for item in media:
            # Unpublished photos are invisible until the feed post: a lost answer is just retried.
            body = await self._call(client, account, "POST", self._page(account), "photos",
                                    json_body={"url": item.url, "published": False})  # fmt: skip
            photo_ids.append(str(body["id"]))
        payload: dict[str, Any] = {"message": post.text, "published": True}
        if photo_ids:
            payload["attached_media"] = [{"media_fbid": p} for p in photo_ids]
        try:
            body = await self._call(client, account, "POST", self._page(account), "feed", creates=True,
                                    params={"fields": "id,permalink_url"}, json_body=payload)  # fmt: skip
        except PlatformError as exc:
            if exc.error_class != ErrorClass.DUPLICATE:
                raise
            # 506: identical to the Page's previous post — perhaps ours, from an attempt whose
            # answer was lost. Then it is published; otherwise it really is a duplicate.
            found = await self._find(client, account, post)
            if found is not None:
                return found
            raise PlatformError(ErrorClass.DUPLICATE,
                                "Facebook refused the post: it is identical to the Page's previous post",
                                detail=exc.detail, status=exc.status) from exc
        post_id = str(body["id"])
        url = self._absolute(body.get("permalink_url"))
        if url is None:
            try:
                found = await self._call(client, account, "GET", post_id, params={"fields": "permalink_url"})
                url = self._absolute(found.get("permalink_url"))
            except PlatformError:
                url = self._page_url(account)
        return Published(platform_post_id=post_id, url=url)

    async def _publish_video(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published:
        item = post.media[0]
        body = await self._call(client, account, "POST", self._page(account), "videos", creates=True,
                                json_body={"file_url": item.url, "description": post.text, "published": True})  # fmt: skip
        video_id = str(body["id"])
        state: dict[str, Any] = {}

        async def ready() -> bool:
            found = await self._call(client, account, "GET", video_id, params={"fields": "status,permalink_url"})
            state.update(found)
            status = (found.get("status") or {}).get("video_status")
            if status == "error":
                raise PlatformError(ErrorClass.INVALID_CONTENT,
                                    "Facebook could not process the video; check its format and length",
                                    detail=str(found.get("status"))[:300])
            return status in ("ready", "upload_complete")

        try:
            await poll(ready, self.processing_wait_seconds, self.poll_first_delay)
        except PlatformError as exc:
            if exc.error_class == ErrorClass.INVALID_CONTENT:
                raise
            # The video is accepted and publishes itself once processed: never post it again.
        return Published(platform_post_id=video_id,
                         url=self._absolute(state.get("permalink_url")) or self._page_url(account))

    async def _find(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        video = len(post.media) == 1 and post.media[0].kind == "video"
        edge, text_field, fields = (
            ("videos", "description", "id,description,created_time,permalink_url") if video
            else ("posts", "message", "id,message,created_time,permalink_url")
        )  # fmt: skip
        body = await self._call(client, account, "GET", self._page(account), edge,
                                params={"fields": fields, "limit": 50})  # fmt: skip
        match = find_by_text(body.get("data") or [], post.text, post.first_attempt_at, text_field, "created_time")
        if match is None:
            return None
        return Published(platform_post_id=str(match["id"]),
                         url=self._absolute(match.get("permalink_url")) or self._page_url(account))

    async def reconcile(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        unknown = cannot_tell(self.name, post)
        if unknown is not None:
            raise unknown
        return await self._find(client, account, post)

    # --- metrics

    async def insights(self, client: httpx.AsyncClient, account: Account, platform_post_id: str) -> dict[str, int | float]:
        """The post's insights, plus ``comments`` and ``shares`` read from the post itself. A
        feed post's id is ``{page-id}_{post-id}``; a video's is a bare id, whose metrics are its
        ``video_insights`` (it has no ``insights`` edge), and a video has comments but no
        ``shares`` field (asking for it is an error)."""
        is_post = "_" in platform_post_id
        edge, metrics = ("insights", POST_METRICS) if is_post else ("video_insights", VIDEO_METRICS)
        body = await self._call(client, account, "GET", platform_post_id, edge, params={"metric": metrics})
        values = insight_values(body)
        fields = f"shares,{COMMENTS_FIELD}" if is_post else COMMENTS_FIELD
        post = await self._call(client, account, "GET", platform_post_id, params={"fields": fields})
        summary = (post.get("comments") or {}).get("summary") if isinstance(post.get("comments"), dict) else None
        total = summary.get("total_count") if isinstance(summary, dict) else None
        if isinstance(total, int) and not isinstance(total, bool):
            values["comments"] = total
        if is_post:
            shares = post.get("shares")
            count = shares.get("count", 0) if isinstance(shares, dict) else 0
            values["shares"] = count if isinstance(count, int) and not isinstance(count, bool) else 0
        return values

    async def audience(self, client: httpx.AsyncClient, account: Account) -> dict[str, int]:
        body = await self._call(client, account, "GET", self._page(account),
                                params={"fields": "followers_count,fan_count"})  # fmt: skip
        return {k: v for k, v in body.items() if k != "id" and isinstance(v, int) and not isinstance(v, bool)}

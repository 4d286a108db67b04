"""Mastodon: POST /api/v1/statuses with an Idempotency-Key; media through /api/v2/media.

Facts from shared/platforms.md (Mastodon): Bearer tokens that never expire; 422 validation
errors; 429 with X-RateLimit-* headers; Idempotency-Key honoured for one hour.

What a delivery keeps between attempts (``progress``):

- ``mastodon_media``: the attachment id of each uploaded file, so a later attempt goes on
  polling the same upload (a video still being processed) instead of uploading it again;
- ``mastodon_statuses``: when the POST /statuses calls whose answer did not say "not created"
  were made (``first`` and ``last``, epoch seconds). Mastodon writes the key when the status is
  created, for one hour, and does not extend it when a later call with the same key gets the
  status back: the key is certain to be alive only within the hour after the earliest such call.
  Outside it, a resend could post twice, so Siar reports the outcome as unknown instead. The time
  is kept when the answer is lost (a timeout, a 502/504), not before each call: a write per post
  on the hot path cost the burst a quarter more publisher CPU. A process that died mid-call kept
  nothing, so then the delivery's first attempt bounds the window, as before."""

from __future__ import annotations

import asyncio
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
from .mediafetch import fetch_media

IDEMPOTENCY_WINDOW = timedelta(minutes=55)  # Mastodon keeps keys for 1 h; leave a margin
SETTLE_SECONDS = 10.0
"""After a POST /statuses whose answer was lost or a gateway error (502/504), how long to leave the
server before sending again: Mastodon writes the Idempotency-Key only once the status is created
and processed, so a resend while the first request is still running would not find it."""
PROCESSING_WAIT_SECONDS = 20.0  # polling an upload within one attempt; well inside the lease
MEDIA_KEY = "mastodon_media"
SENT_KEY = "mastodon_statuses"


def _count(value: object) -> bool:
    """A limit worth keeping: a positive whole number (not a boolean, not null)."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _size_limit(account: Account, media: MediaItem) -> dict[str, Any]:
    """The instance's own upload limit for this kind of file (read when the account was
    connected), as fetch_media's ``limit`` and the reason it gives."""
    key = "video_size_limit" if media.kind == "video" else "image_size_limit"
    limit = account.limits.get(key)
    if not _count(limit):
        return {}
    what = "videos" if media.kind == "video" else "images"
    size = f"{limit / 1e6:,.1f} MB" if limit >= 100_000 else f"{limit:,} bytes"
    return {"limit": limit, "too_large": f"this Mastodon server takes {what} of up to {size}; link a smaller file"}


class MastodonAdapter:
    platform = "mastodon"
    required_credentials = ("access_token",)
    required_settings: tuple[str, ...] = ()
    idempotent_publish = True  # Idempotency-Key: sending again returns the status already created

    def __init__(self, *, settle_seconds: float = SETTLE_SECONDS,
                 processing_wait_seconds: float = PROCESSING_WAIT_SECONDS) -> None:  # fmt: skip
        self.settle_seconds = settle_seconds
        self.processing_wait_seconds = processing_wait_seconds

    def _headers(self, account: Account, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {account.credentials['access_token']}", **extra}

    def _url(self, account: Account, path: str) -> str:
        return account.base_url.rstrip("/") + path

    def _error(self, response: httpx.Response) -> PlatformError:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text[:500]
        status = response.status_code
        detail = f"HTTP {status}: {message}"
        if status == 429:
            return PlatformError(
                ErrorClass.RATE_LIMITED,
                "Mastodon asked Siar to slow down; the post goes out when the limit resets",
                detail=detail,
                retry_at=retry_after(response.headers) or datetime.now(UTC) + timedelta(seconds=60),
                status=status,
            )
        if status == 401:
            return PlatformError(
                ErrorClass.AUTH_REVOKED,
                "Mastodon no longer accepts this account's access token; connect the account again",
                detail=detail,
                status=status,
            )
        if status == 403:
            return PlatformError(
                ErrorClass.PERMISSION_DENIED,
                "Mastodon refused: this account may not post (suspended or missing the write scope)",
                detail=detail,
                status=status,
            )
        if status in (404, 410):
            return PlatformError(ErrorClass.TARGET_GONE, "the Mastodon account or instance is gone",
                                 detail=detail, status=status)
        if status == 422:
            return PlatformError(ErrorClass.INVALID_CONTENT, f"Mastodon refused the post: {message}",
                                 detail=detail, status=status)
        if status >= 500:
            return PlatformError(ErrorClass.TRANSIENT, "the Mastodon server had a problem; Siar will try again",
                                 detail=detail, status=status)
        return PlatformError(ErrorClass.INVALID_CONTENT, f"Mastodon refused the request: {message}",
                             detail=detail, status=status)

    async def verify(self, client: httpx.AsyncClient, account: Account) -> Verified:
        try:
            me = await client.get(self._url(account, "/api/v1/accounts/verify_credentials"),
                                  headers=self._headers(account))
            if me.status_code != 200:
                raise self._error(me)
            instance = await client.get(self._url(account, "/api/v2/instance"))
        except httpx.HTTPError as exc:
            raise transport_error(exc, "Mastodon") from exc
        data = me.json()
        limits: dict[str, int] = {}
        if instance.status_code == 200:
            config = instance.json().get("configuration", {})
            statuses = config.get("statuses", {})
            for key in ("max_characters", "characters_reserved_per_url", "max_media_attachments"):
                if isinstance(statuses.get(key), int):
                    limits[key] = statuses[key]
            # The instance's own upload limits (bytes; description_limit since Mastodon 4.4),
            # kept under Mastodon's names, which siar_platforms maps (LIMIT_ALIASES): an instance
            # may allow more than the 10 MB / 40 MB defaults, or less.
            media = config.get("media_attachments", {})
            if isinstance(media, dict):
                for key in ("image_size_limit", "video_size_limit", "description_limit"):
                    if _count(media.get(key)):
                        limits[key] = media[key]
        return Verified(handle=data.get("acct") or data.get("username"), display_name=data.get("display_name"),
                        limits=limits)

    async def _attachment(self, client: httpx.AsyncClient, account: Account, media_id: str) -> dict | None:
        """An upload kept by an earlier attempt: its attachment (``url`` None while processing),
        or None when Mastodon no longer has it unattached (removed, or attached to a status)."""
        poll = await client.get(self._url(account, f"/api/v1/media/{media_id}"), headers=self._headers(account))
        if poll.status_code == 200:
            return poll.json()
        if poll.status_code == 206:
            return {"id": media_id, "url": None}
        if poll.status_code == 404:
            return None
        raise self._error(poll)

    async def _upload(self, client: httpx.AsyncClient, account: Account, media) -> dict:
        fetched = await fetch_media(client, media, **_size_limit(account, media))
        files = {"file": (fetched.name, fetched.data, fetched.content_type)}
        data = {"description": media.alt_text} if media.alt_text else {}
        response = await client.post(self._url(account, "/api/v2/media"), headers=self._headers(account),
                                     files=files, data=data)
        if response.status_code not in (200, 202):
            raise self._error(response)
        return response.json()

    async def _media_ids(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> list[str]:
        """Each attachment uploaded (or the upload an earlier attempt kept) and processed."""
        kept: dict[str, str] = dict(post.progress.get(MEDIA_KEY) or {})
        ids: list[str] = []
        for n, media in enumerate(post.media):
            key = f"{n}:{media.url}"
            attachment = await self._attachment(client, account, kept[key]) if kept.get(key) else None
            if attachment is None:
                attachment = await self._upload(client, account, media)
                kept[key] = str(attachment["id"])
                await post.save(**{MEDIA_KEY: dict(kept)})
            # 202: still processing; poll until ready (206 while processing, 200 when done).
            deadline = asyncio.get_running_loop().time() + self.processing_wait_seconds
            while attachment.get("url") is None:
                if asyncio.get_running_loop().time() > deadline:
                    raise PlatformError(ErrorClass.TRANSIENT, "Mastodon is still processing the media; Siar will "
                                        "check on the same upload again", detail=f"media {attachment['id']}")  # fmt: skip
                await asyncio.sleep(0.5)
                attachment = await self._attachment(client, account, str(attachment["id"]))
                if attachment is None:
                    raise PlatformError(ErrorClass.TRANSIENT, "Mastodon no longer has the uploaded media; Siar "
                                        "will upload it again", detail=f"media {kept[key]}: 404")  # fmt: skip
            ids.append(str(attachment["id"]))
        return ids

    def _sent(self, post: Outgoing) -> dict | None:
        """The kept POST /statuses calls of unknown outcome (``first``, ``last``), if any; checking
        after an attempt that kept nothing (a caller that keeps nothing, or a process that died
        mid-call), all Siar knows is when the delivery began."""
        kept = post.progress.get(SENT_KEY)
        if isinstance(kept, dict) and isinstance(kept.get("first"), int | float):
            return kept
        if post.first_attempt_at is not None:
            began = post.first_attempt_at.timestamp()
            return {"first": began, "last": began}
        return None

    async def publish(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published:
        try:
            media_ids = await self._media_ids(client, account, post)
        except httpx.HTTPError as exc:
            error = transport_error(exc, "Mastodon")
            if error.error_class == ErrorClass.OUTCOME_UNKNOWN:
                # Only the status makes anything public: a media upload or poll whose answer
                # was lost leaves at most an unattached file, so sending again is safe.
                error = PlatformError(ErrorClass.TRANSIENT,
                                      "Mastodon did not answer while receiving the media; Siar will try again",
                                      detail=error.detail)
            raise error from exc
        body: dict[str, object] = {"status": post.text, "visibility": account.settings.get("visibility", "public")}
        if media_ids:
            body["media_ids"] = media_ids
        if account.settings.get("language"):
            body["language"] = account.settings["language"]
        earlier = post.progress.get(SENT_KEY) if post.checkpoint is not None else None
        earlier = earlier if isinstance(earlier, dict) and earlier.get("first") is not None else None
        now = datetime.now(UTC).timestamp()
        if earlier is not None:
            if now - float(earlier["first"]) >= IDEMPOTENCY_WINDOW.total_seconds():
                raise self._too_late()
            wait = float(earlier.get("last") or earlier["first"]) + self.settle_seconds - now
            if wait > 0:  # the call whose answer was lost may still be running: let it finish
                await asyncio.sleep(min(wait, self.settle_seconds))
                now = datetime.now(UTC).timestamp()

        async def lost() -> None:  # this call's answer is lost: it may have created the status
            await post.save(**{SENT_KEY: {"first": earlier["first"] if earlier else now, "last": now}})

        try:
            response = await client.post(
                self._url(account, "/api/v1/statuses"),
                headers=self._headers(account, **{"Idempotency-Key": post.idempotency_key}),
                json=body,
            )
        except httpx.HTTPError as exc:
            error = transport_error(exc, "Mastodon")
            if error.error_class == ErrorClass.OUTCOME_UNKNOWN:
                await lost()
            raise error from exc
        if response.status_code == 200:
            status = response.json()
            return Published(platform_post_id=str(status["id"]), url=status.get("url"))
        if response.status_code in (502, 504):
            # The proxy gave up waiting; Mastodon may still be creating the status.
            await lost()
            raise PlatformError(
                ErrorClass.OUTCOME_UNKNOWN,
                "Mastodon's server did not answer in time (the status may have been created); Siar waits, "
                "then checks with the same Idempotency-Key before anything is sent again",
                detail=f"HTTP {response.status_code}: {response.text[:200]}", status=response.status_code,
                retry_at=datetime.now(UTC) + timedelta(seconds=self.settle_seconds),
            )  # fmt: skip
        raise self._error(response)

    @staticmethod
    def _too_late() -> PlatformError:
        return PlatformError(
            ErrorClass.OUTCOME_UNKNOWN,
            "Mastodon may have received this post over an hour ago and can no longer confirm it; "
            "check the account before sending it again",
        )

    async def reconcile(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        # Within the idempotency window, sending again with the same key IS the check: Mastodon
        # answers with the status it already created instead of creating a second one. The
        # window runs from the earliest POST /statuses whose outcome is unknown (not from the
        # delivery's first attempt, which may be hours earlier: a rate-limit wait, a failed upload).
        sent = self._sent(post)
        if sent is None or datetime.now(UTC).timestamp() - float(sent["first"]) < IDEMPOTENCY_WINDOW.total_seconds():
            return None
        raise self._too_late()

    # --- insights (for the metrics service; shared/platforms.md item 6)

    async def _read(self, client: httpx.AsyncClient, account: Account, path: str, what: str, thing: str) -> dict:
        try:
            response = await client.get(self._url(account, path), headers=self._headers(account))
        except httpx.HTTPError as exc:
            raise PlatformError(ErrorClass.TRANSIENT, f"could not reach Mastodon to read {what}; Siar will try again",
                                detail=f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            error = self._error(response)
            reasons = {
                ErrorClass.RATE_LIMITED: f"Mastodon asked Siar to slow down; {what} will be read when the limit resets",
                ErrorClass.TARGET_GONE: f"Mastodon no longer has this {thing} (deleted?)",
                ErrorClass.INVALID_CONTENT: f"Mastodon refused to show {what}",
            }
            error.reason = reasons.get(error.error_class, error.reason)
            raise error
        return response.json()

    async def insights(self, client: httpx.AsyncClient, account: Account, platform_post_id: str) -> dict[str, int]:
        """GET /api/v1/statuses/:id: favourites_count, reblogs_count, replies_count, and
        quotes_count where the server has quotes (Mastodon 4.4+). No views or reach: Mastodon
        does not count them."""
        status = await self._read(client, account, f"/api/v1/statuses/{platform_post_id}", "the post's counts", "post")
        return {key: status[key] for key in ("favourites_count", "reblogs_count", "replies_count", "quotes_count")
                if isinstance(status.get(key), int)}

    async def audience(self, client: httpx.AsyncClient, account: Account) -> dict[str, int]:
        """GET /api/v1/accounts/verify_credentials: followers_count (statuses_count and
        following_count are kept too)."""
        me = await self._read(client, account, "/api/v1/accounts/verify_credentials", "the account's followers",
                              "account")
        return {key: me[key] for key in ("followers_count", "following_count", "statuses_count")
                if isinstance(me.get(key), int)}

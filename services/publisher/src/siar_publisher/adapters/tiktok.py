"""TikTok Content Posting API (direct post of a video): creator_info, video init (FILE_UPLOAD in
chunks with ``Content-Range``, or PULL_FROM_URL), then the publish status until PUBLISH_COMPLETE.

The ``publish_id`` (and the upload URL) are kept with the delivery (``progress``) as soon as
TikTok gives them: every later attempt, and reconcile, asks that publish's status instead of
starting another post; an upload cut off part-way continues from the ``uploaded_bytes`` TikTok
reports.

Facts from shared/platforms.md (TikTok): ``{"data", "error": {"code", "message", "log_id"}}``;
``access_token_invalid`` (401) means refresh; ``scope_not_authorized`` and unaudited-client errors
are permission problems; ``rate_limit_exceeded`` (429; init is limited to 6 a minute per token);
``spam_risk_too_many_posts`` is the daily cap; ``spam_risk_too_many_pending_share`` (at most 5
pending); refresh tokens rotate (honour ``expires_in``/``refresh_expires_in``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from siar_contracts import ErrorClass, MediaItem

from .base import Account, Outgoing, PlatformError, Published, Refreshed, Verified, retry_after
from .mediafetch import Deadline, MediaSource, expiry_from, fetch_media_file, in_seconds

DEFAULT_BASE = "https://open.tiktokapis.com"
MIB = 1024 * 1024
MIN_CHUNK, MAX_CHUNK = 5 * MIB, 64 * MIB
UPLOAD_URL_SECONDS = 3_600
LIST_PAGES = 5  # reconcile reads at most 100 videos
FINAL = ("PUBLISH_COMPLETE", "FAILED")
# The status fetch is limited to 30 a minute per token (platforms.md TikTok §4), shared by every
# delivery of the account: one poll every 10 s is 6 a minute for each video being published.
STATUS_POLL_SECONDS = 10.0
_CONTENT_FAILURES = {"file_format_check_failed", "duration_check_failed", "frame_rate_check_failed",
                     "picture_size_check_failed", "publish_cancelled"}  # fmt: skip
_RETRYABLE_FAILURES = {"internal", "video_pull_failed", "photo_pull_failed"}


def chunk_plan(size: int, chunk_bytes: int) -> tuple[int, int]:
    """(chunk_size, total_chunk_count) by the media transfer guide: under 5 MB one chunk; else
    chunks of 5-64 MB, ``size // chunk`` of them, the last taking the rest (under 128 MB)."""
    if size < MIN_CHUNK:
        return size, 1
    chunk = max(MIN_CHUNK, min(MAX_CHUNK, chunk_bytes, size))
    return chunk, max(1, size // chunk)


class TikTokAdapter:
    platform = "tiktok"
    required_credentials = ("access_token", "refresh_token", "client_key", "client_secret")
    required_settings: tuple[str, ...] = ()

    # TikTok limits each endpoint on its own (init 6/min, status 30/min, user and video
    # endpoints 600/min per token): a 429 while reading a video's counts leaves posting alone.
    separate_read_limits = True

    def __init__(self, *, chunk_bytes: int = 10 * MIB, publish_wait_seconds: float = 120.0,
                 poll_seconds: float = STATUS_POLL_SECONDS, max_resumes: int = 3) -> None:  # fmt: skip
        self.chunk_bytes = chunk_bytes
        self.publish_wait_seconds = publish_wait_seconds
        self.poll_seconds = poll_seconds
        self.max_resumes = max_resumes

    # ------------------------------------------------------------------ plumbing

    def _url(self, account: Account, path: str) -> str:
        return (account.base_url or DEFAULT_BASE).rstrip("/") + path

    def _auth(self, account: Account) -> dict[str, str]:
        return {"Authorization": f"Bearer {account.credentials['access_token']}",
                "Content-Type": "application/json; charset=UTF-8"}  # fmt: skip

    async def _api(self, client: httpx.AsyncClient, account: Account, method: str, path: str, *,
                   lost: ErrorClass = ErrorClass.TRANSIENT, **kwargs: Any) -> dict[str, Any]:  # fmt: skip
        """One API call answered with ``{"data", "error"}``; returns ``data``."""
        try:
            response = await client.request(method, self._url(account, path), headers=self._auth(account), **kwargs)
        except httpx.HTTPError as exc:
            sent = isinstance(exc, httpx.ReadTimeout | httpx.RemoteProtocolError | httpx.ReadError)
            klass = lost if sent else ErrorClass.TRANSIENT
            reason = ("TikTok did not answer in time after receiving the post; Siar checks before sending again"
                      if klass == ErrorClass.OUTCOME_UNKNOWN else "could not reach TikTok; Siar will try again")  # fmt: skip
            raise PlatformError(klass, reason, detail=f"{type(exc).__name__}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        error = (body.get("error") or {}) if isinstance(body, dict) else {}
        if response.status_code != 200 or error.get("code", "ok") != "ok":
            raise self._error(response, error)
        return body.get("data") or {}

    def _error(self, response: httpx.Response, error: dict[str, Any]) -> PlatformError:
        status = response.status_code
        code = str(error.get("code") or "")
        message = error.get("message") or response.text[:300] or f"HTTP {status}"
        detail = f"HTTP {status} {code}: {message} (log_id {error.get('log_id', '-')})"
        if code == "access_token_invalid":
            return PlatformError(ErrorClass.AUTH_EXPIRED, "TikTok did not accept the access token; Siar renews it "
                                 "and tries again", detail=detail, status=status)  # fmt: skip
        if code in ("scope_not_authorized", "scope_permission_missed"):
            return PlatformError(ErrorClass.PERMISSION_DENIED, "the TikTok account did not allow Siar to post "
                                 "videos; connect it again and allow posting", detail=detail, status=status)  # fmt: skip
        if code == "unaudited_client_can_only_post_to_private_accounts":
            return PlatformError(ErrorClass.PERMISSION_DENIED,
                                 "Siar's TikTok app is not audited yet, so it may only post privately: set the "
                                 "account's privacy to SELF_ONLY or complete TikTok's audit", detail=detail,
                                 status=status)  # fmt: skip
        if code == "url_ownership_unverified":
            # The operator's to fix, for the media host and not this account: the post fails
            # alone (the account stays connected and its other posts go on).
            return PlatformError(ErrorClass.INVALID_CONTENT, "TikTok will not fetch the video from the library's "
                                 "media host: verify the media host's domain in TikTok's developer portal (URL "
                                 "properties of Siar's TikTok app), or post with the FILE_UPLOAD source",
                                 detail=detail, status=status)  # fmt: skip
        if code == "rate_limit_exceeded" or status == 429:
            return PlatformError(ErrorClass.RATE_LIMITED, "TikTok asked Siar to slow down; the post goes out shortly",
                                 detail=detail, status=status,
                                 retry_at=retry_after(response.headers) or datetime.now(UTC) + timedelta(minutes=1))  # fmt: skip
        if code in ("spam_risk_too_many_posts", "reached_active_user_cap"):
            return PlatformError(ErrorClass.QUOTA_EXHAUSTED, "this TikTok account has posted as much as TikTok "
                                 "allows today; Siar tries again in 24 hours", detail=detail, status=status,
                                 retry_at=datetime.now(UTC) + timedelta(hours=24))  # fmt: skip
        if code == "spam_risk_too_many_pending_share":
            return PlatformError(ErrorClass.RATE_LIMITED, "this TikTok account has too many posts still being "
                                 "processed; Siar waits for them and tries again", detail=detail, status=status,
                                 retry_at=datetime.now(UTC) + timedelta(minutes=15))  # fmt: skip
        if code.startswith("spam_risk"):
            return PlatformError(ErrorClass.POLICY_REJECTED, f"TikTok refused the post ({code})", detail=detail,
                                 status=status)  # fmt: skip
        if code == "internal_error" or status >= 500:
            return PlatformError(ErrorClass.TRANSIENT, "TikTok had a problem; Siar will try again", detail=detail,
                                 status=status)  # fmt: skip
        if status == 401:
            return PlatformError(ErrorClass.AUTH_EXPIRED, "TikTok did not accept the access token; Siar renews it "
                                 "and tries again", detail=detail, status=status)  # fmt: skip
        if status == 403:
            # Scope and token problems are 401s above; a 403 is TikTok refusing this post.
            return PlatformError(ErrorClass.POLICY_REJECTED, f"TikTok refused the post: {message}"
                                 + (f" ({code})" if code else ""), detail=detail, status=status)  # fmt: skip
        return PlatformError(ErrorClass.INVALID_CONTENT, f"TikTok refused the post: {message}", detail=detail,
                             status=status)  # fmt: skip

    # ------------------------------------------------------------------ account

    async def _creator(self, client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
        return await self._api(client, account, "POST", "/v2/post/publish/creator_info/query/", json={})

    async def verify(self, client: httpx.AsyncClient, account: Account) -> Verified:
        creator = await self._creator(client, account)
        data = await self._api(client, account, "GET", "/v2/user/info/",
                               params={"fields": "open_id,union_id,avatar_url,display_name,username"})  # fmt: skip
        user = data.get("user") or {}
        limits: dict[str, int] = {}
        if isinstance(creator.get("max_video_post_duration_sec"), int):
            limits["max_video_post_duration_sec"] = creator["max_video_post_duration_sec"]
        return Verified(handle=user.get("username") or creator.get("creator_username") or user.get("open_id", ""),
                        display_name=user.get("display_name") or creator.get("creator_nickname"), limits=limits,
                        token_expires_at=expiry_from(account.credentials))  # fmt: skip

    async def refresh(self, client: httpx.AsyncClient, account: Account) -> Refreshed:
        """TikTok rotates refresh tokens: the one sent stops working once a new one is issued."""
        credentials = account.credentials
        form = {"client_key": credentials.get("client_key", ""), "client_secret": credentials.get("client_secret", ""),
                "grant_type": "refresh_token", "refresh_token": credentials.get("refresh_token", "")}  # fmt: skip
        try:
            response = await client.post(self._url(account, "/v2/oauth/token/"), data=form)
        except httpx.HTTPError as exc:
            raise PlatformError(ErrorClass.TRANSIENT, "could not reach TikTok to renew the token; Siar will try again",
                                detail=f"{type(exc).__name__}: {exc}") from exc  # fmt: skip
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):  # an API-style error object
                error = error.get("code")
            detail = f"HTTP {response.status_code}: {error}: {body.get('error_description', '') if isinstance(body, dict) else ''}"
            if response.status_code >= 500:
                raise PlatformError(ErrorClass.TRANSIENT, "TikTok could not renew the token now; Siar will try again",
                                    detail=detail, status=response.status_code)  # fmt: skip
            if response.status_code == 429 or error == "rate_limit_exceeded":
                # Asked to slow down: the refresh token is still good.
                raise PlatformError(ErrorClass.RATE_LIMITED, "TikTok asked Siar to slow down while renewing the "
                                    "token; Siar tries again shortly", detail=detail, status=response.status_code,
                                    retry_at=retry_after(response.headers) or datetime.now(UTC) + timedelta(minutes=1))  # fmt: skip
            raise PlatformError(ErrorClass.AUTH_REVOKED, "TikTok no longer accepts Siar's refresh token; connect the "
                                "account again", detail=detail, status=response.status_code)  # fmt: skip
        expires_at = in_seconds(body.get("expires_in", 7200))
        refresh_ends = in_seconds(body.get("refresh_expires_in")) if body.get("refresh_expires_in") else None
        updated = {**credentials, "access_token": body["access_token"],
                   "refresh_token": body.get("refresh_token") or credentials.get("refresh_token")}  # fmt: skip
        if body.get("open_id"):
            updated["open_id"] = body["open_id"]
        if expires_at is not None:
            updated["expires_at"] = expires_at.isoformat()
        if refresh_ends is not None:
            updated["refresh_expires_at"] = refresh_ends.isoformat()
        return Refreshed(credentials=updated, expires_at=expires_at)

    # ------------------------------------------------------------------ publishing

    async def _status(self, client: httpx.AsyncClient, account: Account, publish_id: str) -> dict[str, Any]:
        return await self._api(client, account, "POST", "/v2/post/publish/status/fetch/",
                               json={"publish_id": publish_id})  # fmt: skip

    def _post_info(self, account: Account, post: Outgoing, creator: dict[str, Any]) -> dict[str, Any]:
        settings = account.settings
        privacy = settings.get("privacy_level", "PUBLIC_TO_EVERYONE")
        options = creator.get("privacy_level_options") or []
        if options and privacy not in options:
            raise PlatformError(ErrorClass.INVALID_CONTENT,
                                f"TikTok does not offer the privacy level {privacy} for this account "
                                f"(offered: {', '.join(options)}); change the account's settings in Siar")  # fmt: skip
        return {
            "title": post.text or (post.title or ""),
            "privacy_level": privacy,
            "disable_comment": bool(settings.get("disable_comment")) or bool(creator.get("comment_disabled")),
            "disable_duet": bool(settings.get("disable_duet")) or bool(creator.get("duet_disabled")),
            "disable_stitch": bool(settings.get("disable_stitch")) or bool(creator.get("stitch_disabled")),
        }

    async def _start(self, client: httpx.AsyncClient, account: Account, post: Outgoing, media: MediaItem
                     ) -> tuple[dict[str, Any], MediaSource | None]:  # fmt: skip
        creator = await self._creator(client, account)
        limit = creator.get("max_video_post_duration_sec")
        if isinstance(limit, int) and media.duration_seconds and media.duration_seconds > limit:
            raise PlatformError(ErrorClass.INVALID_CONTENT,
                                f"TikTok: the video is {media.duration_seconds:g} s; this account may post up to {limit} s")
        post_info = self._post_info(account, post, creator)
        source = account.settings.get("source", "FILE_UPLOAD")
        fetched: MediaSource | None = None
        if source == "PULL_FROM_URL":
            source_info: dict[str, Any] = {"source": "PULL_FROM_URL", "video_url": media.url}
            # TikTok starts fetching and posting at once: an answer lost here is an unknown outcome.
            lost = ErrorClass.OUTCOME_UNKNOWN
        else:
            fetched = await fetch_media_file(client, media)
            chunk, count = chunk_plan(fetched.size, self.chunk_bytes)
            source_info = {"source": "FILE_UPLOAD", "video_size": fetched.size, "chunk_size": chunk,
                           "total_chunk_count": count}  # fmt: skip
            lost = ErrorClass.TRANSIENT  # nothing is posted until the bytes arrive
        try:
            data = await self._api(client, account, "POST", "/v2/post/publish/video/init/", lost=lost,
                                   json={"post_info": post_info, "source_info": source_info})  # fmt: skip
            kept = {"publish_id": data["publish_id"], "source": source_info["source"],
                    "started": datetime.now(UTC).timestamp()}  # fmt: skip
            if fetched is not None:
                kept.update({"upload_url": data["upload_url"], "size": source_info["video_size"],
                             "chunk": source_info["chunk_size"], "count": source_info["total_chunk_count"]})  # fmt: skip
            await post.save(tiktok=kept)
        except BaseException:
            if fetched is not None:  # the caller closes it only once it is returned
                await fetched.aclose()
            raise
        return kept, fetched

    async def _upload(self, client: httpx.AsyncClient, account: Account, kept: dict[str, Any], fetched: MediaSource,
                      start_index: int) -> None:  # fmt: skip
        size, chunk, count = int(kept["size"]), int(kept["chunk"]), int(kept["count"])
        content_type = fetched.content_type if fetched.content_type.startswith("video/") else "video/mp4"
        index = start_index
        troubles = 0
        while index < count:
            first = index * chunk
            last = size - 1 if index == count - 1 else first + chunk - 1
            failure = ""
            try:
                response = await client.put(kept["upload_url"], content=await fetched.read(first, last + 1), headers={
                    "Content-Type": content_type, "Content-Range": f"bytes {first}-{last}/{size}",
                })  # fmt: skip
                if response.status_code in (200, 201, 206):
                    index += 1
                    troubles = 0
                    continue
                if response.status_code < 500 and response.status_code != 429:
                    try:
                        error = response.json().get("error") or {}
                    except (ValueError, AttributeError):
                        error = {}
                    raise self._error(response, error)
                failure = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            troubles += 1
            if troubles > self.max_resumes:
                raise PlatformError(ErrorClass.TRANSIENT, "the TikTok upload keeps failing; Siar will resume it later",
                                    detail=failure)  # fmt: skip
            await asyncio.sleep(min(4.0, 0.1 * 2**troubles))
            status = await self._status(client, account, kept["publish_id"])
            if status.get("status") != "PROCESSING_UPLOAD":
                return  # the whole file arrived (the lost answer was the last chunk's)
            index = int(status.get("uploaded_bytes") or 0) // chunk

    async def _until_done(self, client: httpx.AsyncClient, account: Account, post: Outgoing, publish_id: str,
                          status: dict[str, Any] | None = None) -> Published:  # fmt: skip
        deadline = Deadline(self.publish_wait_seconds)
        while True:
            if status is None:
                status = await self._status(client, account, publish_id)
            state = status.get("status")
            if state == "FAILED":
                raise self._failed(status)
            ids = status.get("publicaly_available_post_id") or []
            if state == "PUBLISH_COMPLETE" and ids:
                return self._published(account, str(ids[0]))
            if not await deadline.sleep(self.poll_seconds):
                if state == "PUBLISH_COMPLETE":
                    # Live, but TikTok has not told the post id yet (moderation, or a private post).
                    return Published(platform_post_id=publish_id, url=None)
                klass = ErrorClass.TRANSIENT if post.checkpoint is not None else ErrorClass.OUTCOME_UNKNOWN
                raise PlatformError(klass, "TikTok is still processing the video; Siar checks on it again",
                                    detail=f"publish {publish_id}: {state}")  # fmt: skip
            status = None

    def _failed(self, status: dict[str, Any]) -> PlatformError:
        reason = str(status.get("fail_reason") or "unknown")
        detail = f"publish status FAILED: {reason}"
        if reason in _CONTENT_FAILURES:
            return PlatformError(ErrorClass.INVALID_CONTENT, f"TikTok could not use the video ({reason})", detail=detail)
        if reason in _RETRYABLE_FAILURES:
            return PlatformError(ErrorClass.TRANSIENT, f"TikTok failed to publish the video ({reason}); Siar will "
                                 "try again", detail=detail)  # fmt: skip
        if reason == "spam_risk_too_many_posts":
            return PlatformError(ErrorClass.QUOTA_EXHAUSTED, "this TikTok account has posted as much as TikTok "
                                 "allows today; Siar tries again in 24 hours", detail=detail,
                                 retry_at=datetime.now(UTC) + timedelta(hours=24))  # fmt: skip
        if reason == "auth_removed":
            return PlatformError(ErrorClass.AUTH_REVOKED, "the TikTok account removed Siar's access; connect it again",
                                 detail=detail)  # fmt: skip
        if reason.startswith("spam_risk"):
            return PlatformError(ErrorClass.POLICY_REJECTED, f"TikTok refused the post ({reason})", detail=detail)
        return PlatformError(ErrorClass.TRANSIENT, f"TikTok failed to publish the video ({reason}); Siar will try "
                             "again", detail=detail)  # fmt: skip

    def _published(self, account: Account, video_id: str) -> Published:
        return Published(platform_post_id=video_id,
                         url=f"https://www.tiktok.com/@{account.handle.lstrip('@')}/video/{video_id}")  # fmt: skip

    async def publish(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published:
        videos = [m for m in post.media if m.kind == "video"]
        if len(videos) != 1 or len(post.media) != 1:
            raise PlatformError(ErrorClass.INVALID_CONTENT, "Siar posts one video to TikTok; photo posts are not "
                                "supported yet")  # fmt: skip
        media = videos[0]
        kept = post.progress.get("tiktok")
        if isinstance(kept, dict) and kept.get("publish_id"):
            status = await self._status(client, account, kept["publish_id"])
            state = status.get("status")
            retryable = state == "FAILED" and self._failed(status).error_class == ErrorClass.TRANSIENT
            if not retryable:
                unfinished = (state == "PROCESSING_UPLOAD" and kept.get("source") == "FILE_UPLOAD"
                              and int(status.get("uploaded_bytes") or 0) < int(kept.get("size") or 0))  # fmt: skip
                if unfinished:
                    fresh_url = datetime.now(UTC).timestamp() < float(kept.get("started", 0)) + UPLOAD_URL_SECONDS - 60
                    if fresh_url:
                        async with await fetch_media_file(client, media) as fetched:
                            resumed = fetched.size == int(kept["size"])
                            if resumed:
                                start = int(status.get("uploaded_bytes") or 0) // int(kept["chunk"])
                                await self._upload(client, account, kept, fetched, start)
                        if resumed:
                            return await self._until_done(client, account, post, kept["publish_id"])
                    # The upload URL has expired (or the file changed): that publish can never
                    # complete; start another.
                else:
                    return await self._until_done(client, account, post, kept["publish_id"], status)
        kept, fetched = await self._start(client, account, post, media)
        if fetched is not None:
            async with fetched:  # closed before waiting for TikTok to post it
                await self._upload(client, account, kept, fetched, 0)
        return await self._until_done(client, account, post, kept["publish_id"])

    async def reconcile(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        kept = post.progress.get("tiktok")
        if isinstance(kept, dict) and kept.get("publish_id"):
            status = await self._status(client, account, kept["publish_id"])
            ids = status.get("publicaly_available_post_id") or []
            if status.get("status") == "PUBLISH_COMPLETE":
                return self._published(account, str(ids[0])) if ids else Published(kept["publish_id"], None)
            return None  # failed (publish starts again) or unfinished (publish carries it on)
        found = await self._find(client, account, post)
        if found is not None:
            return found
        if account.settings.get("source") == "PULL_FROM_URL":
            raise PlatformError(ErrorClass.OUTCOME_UNKNOWN,
                                "TikTok may be fetching and posting this video, and Siar has no publish id to ask "
                                "about it; check the account before sending it again")  # fmt: skip
        return None  # FILE_UPLOAD: nothing is posted before Siar sends the bytes

    async def _find(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        since = (post.first_attempt_at - timedelta(minutes=5)).timestamp() if post.first_attempt_at else None
        wanted = (post.text or post.title or "").strip()
        body: dict[str, Any] = {"max_count": 20}
        for _ in range(LIST_PAGES):
            data = await self._api(client, account, "POST", "/v2/video/list/",
                                   params={"fields": "id,title,video_description,create_time,share_url"},
                                   json=body)  # fmt: skip
            for video in data.get("videos") or []:
                if since is not None and float(video.get("create_time") or 0) < since:
                    return None  # newest first: the rest is older than this delivery
                text = (video.get("title") or video.get("video_description") or "").strip()
                if text == wanted:
                    return self._published(account, str(video["id"]))
            if not data.get("has_more"):
                break
            body = {"max_count": 20, "cursor": data.get("cursor")}
        return None

    # ------------------------------------------------------------------ metrics

    async def insights(self, client: httpx.AsyncClient, account: Account, platform_post_id: str) -> dict[str, int | float]:
        video_id = platform_post_id
        if video_id.startswith("v_pub"):
            status = await self._status(client, account, video_id)
            ids = status.get("publicaly_available_post_id") or []
            if not ids:
                return {}  # no public post yet: nothing to read
            video_id = str(ids[0])
        data = await self._api(client, account, "POST", "/v2/video/query/",
                               params={"fields": "id,like_count,comment_count,share_count,view_count"},
                               json={"filters": {"video_ids": [video_id]}})  # fmt: skip
        videos = data.get("videos") or []
        if not videos:
            raise PlatformError(ErrorClass.TARGET_GONE, "the video is no longer on TikTok")
        return {k: v for k, v in videos[0].items() if k != "id" and isinstance(v, int | float)}

    async def audience(self, client: httpx.AsyncClient, account: Account) -> dict[str, int]:
        data = await self._api(client, account, "GET", "/v2/user/info/",
                               params={"fields": "follower_count,following_count,likes_count,video_count"})  # fmt: skip
        return {k: v for k, v in (data.get("user") or {}).items() if isinstance(v, int)}

"""YouTube Data API v3: videos.insert through the resumable upload protocol, which Siar resumes
rather than restarts.

The session URI (``Location`` of the initiating POST) is kept with the delivery (``progress``).
When a PUT is cut off or answered 5xx, Siar asks the session what arrived (``PUT`` with
``Content-Range: bytes */TOTAL`` -> ``308`` + ``Range``) and sends only the rest; a later attempt
(after a crash or a retry) does the same with the kept session, and a session that already holds
the whole file answers with the video instead. Reconcile asks the kept session, else looks in the
channel's uploads playlist for the title and description.

Facts from shared/platforms.md (YouTube): ``{"error":{"code","message","errors":[{"domain",
"reason"}]}}``; ``quotaExceeded`` (403, the quota resets at midnight Pacific time) and
``uploadLimitExceeded`` (400, the channel's daily cap) wait for their window; access tokens live
1 hour and are renewed with the refresh token at Google's token endpoint, where ``invalid_grant``
means the authorisation was revoked or has expired.

YouTube may publish a video with another privacy than the one asked for: an API project that
YouTube has not verified (audited) can upload private videos only, whatever it asks
(developers.google.com/youtube/v3/docs/videos/insert). The video exists, so the delivery is
published; the privacy YouTube gave is compared with the one asked for, and a difference is
logged as a warning (``youtube video privacy differs``) and goes with post.published as the
target's notice, saying what to do about it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from siar_contracts import ErrorClass

from .base import (
    Account,
    Outgoing,
    PlatformError,
    Published,
    Refreshed,
    Verified,
    retry_after,
)
from .mediafetch import Deadline, MediaSource, fetch_media_file, in_seconds

DEFAULT_BASE = "https://www.googleapis.com"
GOOGLE_OAUTH = "https://oauth2.googleapis.com"
CHUNK_UNIT = 256 * 1024  # chunks must be multiples of 256 KiB, except the last
LONG_VIDEO_SECONDS = 12 * 3600
UPLOAD_PAGES = 4  # reconcile reads at most 200 uploads
log = structlog.get_logger("siar.publisher.youtube")

try:
    from zoneinfo import ZoneInfo

    PACIFIC: Any = ZoneInfo("America/Los_Angeles")
except Exception:  # pragma: no cover - no tz database: standard time is close enough
    PACIFIC = timezone(timedelta(hours=-8))


def next_pacific_midnight(now: datetime | None = None) -> datetime:
    """When the YouTube Data API quota resets."""
    local = (now or datetime.now(UTC)).astimezone(PACIFIC)
    tomorrow = (local + timedelta(days=1)).date()
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=PACIFIC).astimezone(UTC)


# What to tell a person connecting the channel when Google refuses the one renewal verify makes
# (RFC 6749 §5.2 error codes, as oauth2.googleapis.com/token answers them).
_REFRESH_REFUSED = {
    "invalid_client": "Google did not accept the OAuth client: check client_id and client_secret (the Google "
                      "Cloud console shows both) and try again",
    "invalid_grant": "Google did not accept the refresh token: it has expired or was revoked; authorise Siar "
                     "again and paste the new tokens",
    "unauthorized_client": "Google says the refresh token belongs to another OAuth client: give the client_id and "
                           "client_secret it was issued to",
    "": "Google refused to renew the access token with these credentials: check client_id, client_secret and "
        "refresh_token, then try again",
}  # fmt: skip


class YouTubeAdapter:
    platform = "youtube"
    required_credentials = ("access_token", "refresh_token", "client_id", "client_secret")
    required_settings: tuple[str, ...] = ()

    def __init__(self, *, chunk_bytes: int = 32 * CHUNK_UNIT, processing_wait_seconds: float = 60.0,
                 poll_seconds: float = 5.0, max_resumes: int = 5) -> None:  # fmt: skip
        if chunk_bytes % CHUNK_UNIT:
            raise ValueError("chunk_bytes must be a multiple of 256 KiB")
        self.chunk_bytes = chunk_bytes
        self.processing_wait_seconds = processing_wait_seconds
        self.poll_seconds = poll_seconds
        self.max_resumes = max_resumes

    # ------------------------------------------------------------------ plumbing

    def _url(self, account: Account, path: str) -> str:
        return (account.base_url or DEFAULT_BASE).rstrip("/") + path

    def _oauth_url(self, account: Account, path: str) -> str:
        base = account.settings.get("oauth_base_url")
        if not base:
            host = urlsplit(account.base_url or DEFAULT_BASE).hostname
            base = GOOGLE_OAUTH if host == "www.googleapis.com" else (account.base_url or DEFAULT_BASE)
        return str(base).rstrip("/") + path

    def _auth(self, account: Account) -> dict[str, str]:
        return {"Authorization": f"Bearer {account.credentials['access_token']}"}

    async def _get(self, client: httpx.AsyncClient, account: Account, path: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await client.get(self._url(account, path), params=params, headers=self._auth(account))
        except httpx.HTTPError as exc:
            raise PlatformError(ErrorClass.TRANSIENT, "could not reach YouTube; Siar will try again",
                                detail=f"{type(exc).__name__}: {exc}") from exc  # fmt: skip
        if response.status_code != 200:
            raise self._error(response)
        return response.json()

    def _error(self, response: httpx.Response) -> PlatformError:
        status = response.status_code
        try:
            body = response.json().get("error") or {}
        except (ValueError, AttributeError):
            body = {}
        if not isinstance(body, dict):
            body = {"message": str(body)}
        errors = body.get("errors") if isinstance(body.get("errors"), list) else []
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        reason = first.get("reason") or ""
        message = body.get("message") or first.get("message") or response.text[:300] or f"HTTP {status}"
        detail = f"HTTP {status} {reason}: {message}".replace("  ", " ")
        if reason == "quotaExceeded":
            return PlatformError(ErrorClass.QUOTA_EXHAUSTED,
                                 "Siar's YouTube API quota for today is used up; the video goes up after it "
                                 "resets at midnight Pacific time", detail=detail,
                                 retry_at=next_pacific_midnight(), status=status)  # fmt: skip
        if reason == "uploadLimitExceeded":
            return PlatformError(ErrorClass.QUOTA_EXHAUSTED,
                                 "this YouTube channel has uploaded as many videos as it may today; Siar tries "
                                 "again in 24 hours", detail=detail,
                                 retry_at=datetime.now(UTC) + timedelta(hours=24), status=status)  # fmt: skip
        if status == 429 or reason in ("rateLimitExceeded", "userRateLimitExceeded"):
            return PlatformError(ErrorClass.RATE_LIMITED, "YouTube asked Siar to slow down; it will try again shortly",
                                 detail=detail, status=status,
                                 retry_at=retry_after(response.headers) or datetime.now(UTC) + timedelta(minutes=1))  # fmt: skip
        if reason == "youtubeSignupRequired":
            return PlatformError(ErrorClass.PERMISSION_DENIED,
                                 "this Google account has no YouTube channel; create one, then connect it again",
                                 detail=detail, status=status)  # fmt: skip
        if status == 401:
            return PlatformError(ErrorClass.AUTH_EXPIRED, "YouTube did not accept the access token; Siar renews it "
                                 "and tries again", detail=detail, status=status)  # fmt: skip
        if status == 403:
            return PlatformError(ErrorClass.PERMISSION_DENIED,
                                 "YouTube refused: Siar may not upload to this channel (missing permission, or the "
                                 "channel cannot upload)", detail=detail, status=status)  # fmt: skip
        if status == 404:
            return PlatformError(ErrorClass.TARGET_GONE, "YouTube cannot find it", detail=detail, status=status)
        if status >= 500:
            return PlatformError(ErrorClass.TRANSIENT, "YouTube had a problem; Siar will try again",
                                 detail=detail, status=status)  # fmt: skip
        return PlatformError(ErrorClass.INVALID_CONTENT, f"YouTube refused the video: {message}", detail=detail,
                             status=status)  # fmt: skip

    # ------------------------------------------------------------------ account

    async def _channel(self, client: httpx.AsyncClient, account: Account, parts: str) -> dict[str, Any]:
        body = await self._get(client, account, "/youtube/v3/channels", {"part": parts, "mine": "true"})
        items = body.get("items") or []
        if not items:
            raise PlatformError(ErrorClass.PERMISSION_DENIED,
                                "this Google account has no YouTube channel; create one, then connect it again")
        return items[0]

    async def verify(self, client: httpx.AsyncClient, account: Account) -> Verified:
        """The channel, read with the access token given. With a refresh token, one renewal
        first: a wrong client id or secret, or a dead refresh token, shows now rather than at
        the first renewal an hour later; and when the access token given has expired already,
        the channel is read with the new one, which is kept."""
        refreshed = None
        if account.credentials.get("refresh_token"):
            refreshed = await self.refresh(client, account)
        parts = "snippet,contentDetails,statistics,status"
        renewed = None
        try:
            channel = await self._channel(client, account, parts)
        except PlatformError as exc:
            if refreshed is None or exc.error_class != ErrorClass.AUTH_EXPIRED:
                raise
            renewed = refreshed
            channel = await self._channel(client, replace(account, credentials=renewed.credentials), parts)
        snippet = channel.get("snippet") or {}
        limits: dict[str, int] = {}
        if (channel.get("status") or {}).get("longUploadsStatus") == "allowed":
            limits["max_video_seconds"] = LONG_VIDEO_SECONDS
        handle = snippet.get("customUrl") or channel["id"]
        if renewed is not None:
            return Verified(handle=handle, display_name=snippet.get("title"), limits=limits,
                            token_expires_at=renewed.expires_at or datetime.now(UTC),
                            credentials=renewed.credentials)  # fmt: skip
        expires_at = None
        try:
            info = await client.get(self._oauth_url(account, "/tokeninfo"),
                                    params={"access_token": account.credentials["access_token"]})  # fmt: skip
            if info.status_code == 200:
                expires_at = in_seconds(info.json().get("expires_in"))
        except (httpx.HTTPError, ValueError):
            expires_at = None
        return Verified(handle=handle, display_name=snippet.get("title"),
                        limits=limits, token_expires_at=expires_at or datetime.now(UTC))  # fmt: skip

    async def refresh(self, client: httpx.AsyncClient, account: Account) -> Refreshed:
        credentials = account.credentials
        form = {"grant_type": "refresh_token", "refresh_token": credentials.get("refresh_token", ""),
                "client_id": credentials.get("client_id", ""), "client_secret": credentials.get("client_secret", "")}  # fmt: skip
        try:
            response = await client.post(self._oauth_url(account, "/token"), data=form)
        except httpx.HTTPError as exc:
            raise PlatformError(ErrorClass.TRANSIENT, "could not reach Google to renew the token; Siar will try again",
                                detail=f"{type(exc).__name__}: {exc}") from exc  # fmt: skip
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            error = body.get("error") if isinstance(body, dict) else None
            detail = f"HTTP {response.status_code}: {error}: {body.get('error_description') if isinstance(body, dict) else ''}"
            if error in ("invalid_grant", "invalid_client", "unauthorized_client") or response.status_code in (400, 401):
                reason = ("Google says Siar's access to the YouTube channel was revoked or has expired "
                          "(invalid_grant); connect the channel again") if error == "invalid_grant" else (
                          "Google refused Siar's app credentials; connect the YouTube channel again")  # fmt: skip
                raise PlatformError(ErrorClass.AUTH_REVOKED, reason, detail=detail, status=response.status_code,
                                    connect_reason=_REFRESH_REFUSED.get(str(error), _REFRESH_REFUSED[""]))  # fmt: skip
            raise PlatformError(ErrorClass.TRANSIENT, "Google could not renew the token now; Siar will try again",
                                detail=detail, status=response.status_code)  # fmt: skip
        expires_at = in_seconds(body.get("expires_in", 3599))
        updated = {**credentials, "access_token": body["access_token"]}
        if body.get("refresh_token"):
            updated["refresh_token"] = body["refresh_token"]
        if expires_at is not None:
            updated["expires_at"] = expires_at.isoformat()
        return Refreshed(credentials=updated, expires_at=expires_at)

    # ------------------------------------------------------------------ upload

    def _title(self, post: Outgoing) -> str:
        if post.title:
            return post.title
        first = (post.text.strip().splitlines() or ["Video"])[0]
        return first[:100]

    async def _start(self, client: httpx.AsyncClient, account: Account, post: Outgoing, fetched: MediaSource) -> str:
        settings = account.settings
        snippet: dict[str, Any] = {"title": self._title(post), "description": post.text,
                                   "categoryId": str(settings.get("category_id", "22"))}  # fmt: skip
        if settings.get("tags"):
            snippet["tags"] = list(settings["tags"])
        if settings.get("language"):
            snippet["defaultLanguage"] = settings["language"]
        body = {"snippet": snippet, "status": {"privacyStatus": settings.get("privacy_status", "public"),
                                               "selfDeclaredMadeForKids": bool(settings.get("made_for_kids", False))}}  # fmt: skip
        content_type = fetched.content_type if fetched.content_type.startswith("video/") else "application/octet-stream"
        headers = {**self._auth(account), "X-Upload-Content-Length": str(fetched.size),
                   "X-Upload-Content-Type": content_type}  # fmt: skip
        try:
            response = await client.post(
                self._url(account, "/upload/youtube/v3/videos"),
                params={"uploadType": "resumable", "part": "snippet,status"}, json=body, headers=headers,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            # Nothing public exists until the last byte arrives: starting again is safe.
            raise PlatformError(ErrorClass.TRANSIENT, "could not start the YouTube upload; Siar will try again",
                                detail=f"{type(exc).__name__}: {exc}") from exc  # fmt: skip
        if response.status_code not in (200, 201) or not response.headers.get("location"):
            raise self._error(response)
        return response.headers["location"]

    async def _ask(self, client: httpx.AsyncClient, account: Account, uri: str, size: int) -> dict[str, Any] | int | None:
        """What the session holds: the video (done), the offset to continue from, or None when
        the session is gone. Raises TRANSIENT when YouTube cannot be asked."""
        try:
            response = await client.put(uri, content=b"", headers={**self._auth(account),
                                                                    "Content-Range": f"bytes */{size}"})  # fmt: skip
        except httpx.HTTPError as exc:
            raise PlatformError(ErrorClass.TRANSIENT, "could not ask YouTube how far the upload got; Siar will try again",
                                detail=f"{type(exc).__name__}: {exc}") from exc  # fmt: skip
        if response.status_code in (200, 201):
            return response.json()
        if response.status_code == 308:
            return _next_offset(response)
        if response.status_code in (404, 410):
            return None
        raise self._error(response)

    async def _send(self, client: httpx.AsyncClient, account: Account, uri: str, fetched: MediaSource, offset: int) -> dict[str, Any]:
        size = fetched.size
        content_type = fetched.content_type if fetched.content_type.startswith("video/") else "application/octet-stream"
        troubles = 0
        while True:
            end = min(offset + self.chunk_bytes, size)
            final = end == size
            response: httpx.Response | None = None
            failure = ""
            try:
                response = await client.put(uri, content=await fetched.read(offset, end), headers={
                    **self._auth(account), "Content-Type": content_type,
                    "Content-Range": f"bytes {offset}-{end - 1}/{size}",
                })  # fmt: skip
            except httpx.HTTPError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            if response is not None:
                status = response.status_code
                if status in (200, 201):
                    return response.json()
                if status == 308:
                    offset = _next_offset(response)
                    troubles = 0
                    continue
                if status in (404, 410):
                    raise PlatformError(ErrorClass.TRANSIENT, "the YouTube upload session expired; Siar starts a new "
                                        "one", detail=f"HTTP {status}", status=status)  # fmt: skip
                if status < 500 and status != 429:
                    raise self._error(response)
                failure = f"HTTP {status}: {response.text[:200]}"
            # Interrupted or a server error: ask what arrived and continue from there.
            troubles += 1
            if troubles > self.max_resumes:
                raise PlatformError(ErrorClass.TRANSIENT, "the YouTube upload keeps failing; Siar will resume it later",
                                    detail=failure)  # fmt: skip
            await asyncio.sleep(min(4.0, 0.1 * 2**troubles))
            try:
                held = await self._ask(client, account, uri, size)
            except PlatformError as exc:
                if final:
                    raise PlatformError(
                        ErrorClass.OUTCOME_UNKNOWN,
                        "YouTube received the whole video but did not confirm it; Siar checks the upload before "
                        "sending anything again", detail=f"{failure}; then {exc.detail}",
                    ) from exc  # fmt: skip
                raise
            if isinstance(held, dict):
                return held
            if held is None:
                raise PlatformError(ErrorClass.TRANSIENT, "the YouTube upload session expired; Siar starts a new one",
                                    detail=failure)  # fmt: skip
            offset = held

    async def _processed(self, client: httpx.AsyncClient, account: Account, video: dict[str, Any]) -> dict[str, Any]:
        """Wait a while for YouTube to process the video; refuse it if YouTube does. A video
        still processing when the wait ends counts as published (it exists and has its URL).
        Returns the video's last known ``status``."""
        deadline = Deadline(self.processing_wait_seconds)
        status = video.get("status") or {}
        while status.get("uploadStatus") in (None, "uploaded"):
            if not await deadline.sleep(self.poll_seconds):
                return status
            body = await self._get(client, account, "/youtube/v3/videos", {"part": "status,processingDetails",
                                                                           "id": video["id"]})  # fmt: skip
            items = body.get("items") or []
            if not items:
                raise PlatformError(ErrorClass.TARGET_GONE, "the uploaded video disappeared from YouTube")
            status = items[0].get("status") or {}
        upload_status = status.get("uploadStatus")
        if upload_status == "failed":
            raise PlatformError(ErrorClass.INVALID_CONTENT,
                                f"YouTube could not process the video ({status.get('failureReason', 'failed')})",
                                detail=str(status))  # fmt: skip
        if upload_status == "rejected":
            why = status.get("rejectionReason", "rejected")
            klass = ErrorClass.DUPLICATE if why == "duplicate" else ErrorClass.POLICY_REJECTED
            raise PlatformError(klass, f"YouTube rejected the video ({why})", detail=str(status))
        if upload_status == "deleted":
            raise PlatformError(ErrorClass.TARGET_GONE, "the uploaded video was deleted on YouTube")
        return status

    def _as_published(self, account: Account, video_id: str, status: dict[str, Any] | None) -> Published:
        """The video as a published post, after comparing the privacy YouTube gave it with the one
        asked for: YouTube may publish it otherwise (an unverified API project uploads private
        only). The post exists either way; a difference is logged as a warning saying why and
        what to do (nothing else carries a note on a published delivery yet)."""
        published = Published(platform_post_id=video_id, url=f"https://www.youtube.com/watch?v={video_id}")
        wanted = str(account.settings.get("privacy_status", "public"))
        given = (status or {}).get("privacyStatus")
        if isinstance(given, str) and given != wanted:
            log.warning("youtube video privacy differs", video_id=video_id, url=published.url,
                        requested_privacy=wanted, privacy=given, account_id=account.account_id,
                        reason=privacy_reason(wanted, given))  # fmt: skip
            published = replace(published, notice=privacy_reason(wanted, given))
        return published

    async def publish(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published:
        async with await fetch_media_file(client, post.media[0]) as fetched:  # closed before processing
            size = fetched.size
            kept = post.progress.get("youtube_session")
            uri: str | None = None
            offset = 0
            video: dict[str, Any] | None = None
            if isinstance(kept, dict) and kept.get("uri") and kept.get("size") == size:
                held = await self._ask(client, account, kept["uri"], size)
                if isinstance(held, dict):
                    video = held
                elif held is not None:
                    uri, offset = kept["uri"], held
            if video is None:
                if uri is None:
                    uri = await self._start(client, account, post, fetched)
                    await post.save(youtube_session={"uri": uri, "size": size})
                video = await self._send(client, account, uri, fetched, offset)
        status = await self._processed(client, account, video)
        return self._as_published(account, video["id"], status)

    async def reconcile(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        kept = post.progress.get("youtube_session")
        if isinstance(kept, dict) and kept.get("uri") and kept.get("size"):
            held = await self._ask(client, account, kept["uri"], int(kept["size"]))
            if isinstance(held, dict):
                return self._as_published(account, held["id"], held.get("status"))
            if held is not None:
                return None  # not complete: publish continues the same session
        channel = await self._channel(client, account, "contentDetails")
        uploads = ((channel.get("contentDetails") or {}).get("relatedPlaylists") or {}).get("uploads")
        if not uploads:
            return None
        since = post.first_attempt_at - timedelta(minutes=5) if post.first_attempt_at else None
        title = self._title(post)
        params: dict[str, Any] = {"part": "snippet,status", "playlistId": uploads, "maxResults": 50}
        for _ in range(UPLOAD_PAGES):
            body = await self._get(client, account, "/youtube/v3/playlistItems", params)
            for item in body.get("items") or []:
                snippet = item.get("snippet") or {}
                published_at = _parse(snippet.get("publishedAt"))
                if since is not None and published_at is not None and published_at < since:
                    return None  # newest first: everything further is older than this delivery
                if snippet.get("title") != title or (snippet.get("description") or "").strip() != post.text.strip():
                    continue
                video_id = (snippet.get("resourceId") or {}).get("videoId")
                if video_id:
                    return self._as_published(account, str(video_id), item.get("status"))
            if not body.get("nextPageToken"):
                break
            params["pageToken"] = body["nextPageToken"]
        return None

    # ------------------------------------------------------------------ metrics

    async def insights(self, client: httpx.AsyncClient, account: Account, platform_post_id: str) -> dict[str, int | float]:
        body = await self._get(client, account, "/youtube/v3/videos", {"part": "statistics", "id": platform_post_id})
        items = body.get("items") or []
        if not items:
            raise PlatformError(ErrorClass.TARGET_GONE, "the video is no longer on YouTube")
        return _numbers(items[0].get("statistics") or {})

    async def audience(self, client: httpx.AsyncClient, account: Account) -> dict[str, int]:
        channel = await self._channel(client, account, "statistics")
        return {k: int(v) for k, v in _numbers(channel.get("statistics") or {}).items()}


def _numbers(values: dict[str, Any]) -> dict[str, int | float]:
    """YouTube sends counts as strings; booleans (hiddenSubscriberCount) are left out."""
    out: dict[str, int | float] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            continue
        try:
            out[key] = int(value)
        except (TypeError, ValueError):
            continue
    return out


def _next_offset(response: httpx.Response) -> int:
    """From a 308's ``Range: bytes=0-N`` (none: nothing arrived yet)."""
    value = response.headers.get("range", "")
    try:
        return int(value.rsplit("-", 1)[1]) + 1
    except (IndexError, ValueError):
        return 0


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def privacy_reason(wanted: str, given: str) -> str:
    """Why a video is published with privacy ``given`` although ``wanted`` was asked for, in
    words a librarian understands."""
    if given == "private":
        return (f"YouTube published the video as private, not {wanted} as Siar asked: YouTube makes every "
                "upload private when Siar's Google Cloud project has not passed YouTube's API audit (an "
                "unverified project). The video is on the channel but only its owner can see it: make it "
                f"{wanted} in YouTube Studio, and have the project verified so later uploads are not private")
    return (f"YouTube published the video as {given}, not {wanted} as Siar asked; check its visibility "
            "in YouTube Studio")

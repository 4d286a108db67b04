"""X (Twitter) API v2: POST /2/tweets, with media through the chunked upload (initialize, append,
finalize, then STATUS until ``processing_info`` says succeeded) and alt text through
/2/media/metadata.

Facts from shared/platforms.md (X): OAuth 2.0 user tokens live 2 hours and are renewed with a
refresh token (``offline.access``), which X rotates; ``x-rate-limit-*`` headers with the reset in
epoch seconds, ``x-user-limit-24hour-*`` / ``x-app-limit-24hour-*`` when the account's or the
app's daily posting cap is hit; a 429 body
``{"errors":[{"code":88}]}``; 403 problem JSON for duplicates; no idempotency key, so a post whose
answer was lost (a timeout or cut connection after sending, or a 5xx, which X or a gateway in
front of it can answer after making the tweet) is looked for on the account's timeline (matched
by its whole text: ``note_tweet`` for a long post) before any retry."""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from siar_contracts import ErrorClass, MediaItem
from siar_platforms import rules_for

from ..redact import redact_url
from .base import (
    Account,
    Outgoing,
    PlatformError,
    Published,
    Refreshed,
    Verified,
    retry_after,
    transport_error,
)
from .mediafetch import Deadline, expiry_from, fetch_media_file, in_seconds, parse_time

DEFAULT_BASE = "https://api.x.com"
MIB = 1024 * 1024
PREMIUM_TEXT_LIMIT = 25_000
TIMELINE_PAGES = 5  # reconcile reads at most 500 tweets since the delivery began
CLOCK_SKEW = timedelta(seconds=30)  # between Siar's clock (first attempt) and X's (created_at)
_SCHEME_RE = re.compile(r"(?i)\bhttps?://")
_SPACE_RE = re.compile(r"\s+")


def canonical(text: str) -> str:
    """A tweet's text as compared with what Siar sent: NFC, HTML entities undone, URL schemes and
    whitespace runs ignored (X shows links as t.co links and escapes ``& < >``)."""
    text = unicodedata.normalize("NFC", html.unescape(text))
    text = _SCHEME_RE.sub("", text)
    return _SPACE_RE.sub(" ", text).strip().rstrip("/")


# 403s that are about the token or the app, not the post: a token or app without write access
# ("You are not permitted to perform this action", code 261 "cannot perform write actions"), an
# app whose access level does not include the endpoint (problem type client-forbidden, reason
# client-not-enrolled), a suspended account.
_AUTH_WORDS = ("not permitted to perform this action", "cannot perform write actions", "scope", "oauth",
               "suspended", "access level", "developer app")  # fmt: skip
_AUTH_TYPES = ("client-forbidden", "unsupported-authentication", "not-authorized-for-resource")
_POLICY_RE = re.compile(r"automated|spam|policy|rules")


def _authorisation_problem(body: dict[str, Any], lowered: str) -> bool:
    kind = f"{body.get('type') or ''} {body.get('reason') or ''}".lower()
    return any(t in kind for t in _AUTH_TYPES) or "client-not-enrolled" in kind or any(w in lowered for w in _AUTH_WORDS)


def expanded_text(tweet: dict[str, Any]) -> str:
    """A timeline tweet's whole text with its t.co links replaced by the links they stand for.
    A long post (X Premium, over 280 weighted characters) comes back with ``text`` cut short
    and the whole text in ``note_tweet`` (asked for with ``tweet.fields=note_tweet``), whose
    own ``entities`` map its links."""
    note = tweet.get("note_tweet")
    if isinstance(note, dict) and isinstance(note.get("text"), str):
        tweet = note
    text = str(tweet.get("text", ""))
    for url in (tweet.get("entities") or {}).get("urls") or []:
        short, expanded = url.get("url"), url.get("expanded_url")
        if short and expanded:
            text = text.replace(short, expanded)
    return text


class XAdapter:
    platform = "x"
    required_credentials = ("access_token",)
    required_settings: tuple[str, ...] = ()
    # X limits each endpoint on its own ("Each endpoint has its own limit", docs.x.com
    # fundamentals/rate-limits): a 429 while reading a tweet's metrics says nothing about posting.
    separate_read_limits = True

    def __init__(self, *, chunk_bytes: int = 4 * MIB, processing_wait_seconds: float = 300.0,
                 min_poll_seconds: float = 1.0) -> None:  # fmt: skip
        self.chunk_bytes = chunk_bytes
        self.processing_wait_seconds = processing_wait_seconds
        self.min_poll_seconds = min_poll_seconds

    # ------------------------------------------------------------------ plumbing

    def _url(self, account: Account, path: str) -> str:
        return (account.base_url or DEFAULT_BASE).rstrip("/") + path

    def _headers(self, account: Account) -> dict[str, str]:
        return {"Authorization": f"Bearer {account.credentials['access_token']}"}

    async def _call(self, client: httpx.AsyncClient, account: Account, method: str, path: str,
                    *, lost: ErrorClass = ErrorClass.TRANSIENT, **kwargs: Any) -> httpx.Response:  # fmt: skip
        """One call; a transport failure is ``lost`` when the request may have been acted on
        (OUTCOME_UNKNOWN only for the tweet itself), TRANSIENT when it cannot have been."""
        try:
            return await client.request(method, self._url(account, path), headers=self._headers(account), **kwargs)
        except httpx.HTTPError as exc:
            error = transport_error(exc, "X")
            if error.error_class == ErrorClass.OUTCOME_UNKNOWN and lost != ErrorClass.OUTCOME_UNKNOWN:
                error = PlatformError(ErrorClass.TRANSIENT, "X did not answer in time; Siar will try again",
                                      detail=error.detail)
            raise error from exc

    def _error(self, response: httpx.Response) -> PlatformError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        errors = body.get("errors") if isinstance(body.get("errors"), list) else []
        message = (body.get("detail") or (errors[0].get("message") if errors and isinstance(errors[0], dict) else None)
                   or body.get("title") or response.text[:300] or f"HTTP {status}")  # fmt: skip
        detail = f"HTTP {status}: {message}"
        headers = response.headers
        if status == 429:
            if headers.get("x-user-limit-24hour-remaining") == "0":
                reset = parse_time(headers.get("x-user-limit-24hour-reset"))
                return PlatformError(
                    ErrorClass.QUOTA_EXHAUSTED,
                    "this X account has used its 24-hour posting limit; the post goes out when it resets",
                    detail=detail, retry_at=reset or datetime.now(UTC) + timedelta(hours=24), status=status,
                )  # fmt: skip
            if headers.get("x-app-limit-24hour-remaining") == "0":
                # Siar's X app as a whole (every account it posts for) has used its 24-hour cap.
                reset = parse_time(headers.get("x-app-limit-24hour-reset"))
                return PlatformError(
                    ErrorClass.QUOTA_EXHAUSTED,
                    "Siar's X app has used its 24-hour posting limit (shared by every account it posts "
                    "for); the post goes out when it resets",
                    detail=detail, retry_at=reset or datetime.now(UTC) + timedelta(hours=24), status=status,
                )  # fmt: skip
            return PlatformError(
                ErrorClass.RATE_LIMITED, "X asked Siar to slow down; the post goes out when the limit resets",
                detail=detail, retry_at=retry_after(headers) or datetime.now(UTC) + timedelta(minutes=15),
                status=status,
            )  # fmt: skip
        if status == 401:
            return PlatformError(ErrorClass.AUTH_EXPIRED,
                                 "X did not accept the access token; Siar renews it and tries again",
                                 detail=detail, status=status)  # fmt: skip
        lowered = message.lower()
        if status == 403:
            if "duplicate" in lowered:
                return PlatformError(ErrorClass.DUPLICATE,
                                     "X refused the post as a duplicate of one already on this account",
                                     detail=detail, status=status)  # fmt: skip
            if "too long" in lowered:
                return PlatformError(ErrorClass.INVALID_CONTENT, "X refused the post: the text is too long",
                                     detail=detail, status=status)  # fmt: skip
            if _authorisation_problem(body, lowered):
                return PlatformError(ErrorClass.PERMISSION_DENIED,
                                     "X refused: this account or Siar's X app may not post (missing tweet.write "
                                     "permission, or the account is restricted)", detail=detail, status=status)  # fmt: skip
            # Anything else X forbids is about this post (a reply to a hidden post, a policy
            # refusal): it fails alone, with X's words, and the account stays connected.
            klass = ErrorClass.POLICY_REJECTED if _POLICY_RE.search(lowered) else ErrorClass.INVALID_CONTENT
            return PlatformError(klass, f"X refused the post: {message}", detail=detail, status=status)
        if status == 404:
            return PlatformError(ErrorClass.TARGET_GONE, "X cannot find it (deleted or never there)",
                                 detail=detail, status=status)  # fmt: skip
        if status >= 500:
            return PlatformError(ErrorClass.TRANSIENT, "X had a problem; Siar will try again",
                                 detail=detail, status=status)  # fmt: skip
        return PlatformError(ErrorClass.INVALID_CONTENT, f"X refused the post: {message}", detail=detail,
                             status=status)  # fmt: skip

    def _json(self, response: httpx.Response, *ok: int) -> dict[str, Any]:
        if response.status_code not in (ok or (200,)):
            raise self._error(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise PlatformError(ErrorClass.TRANSIENT, "X answered with something Siar cannot read; it will try again",
                                detail=response.text[:300], status=response.status_code) from exc  # fmt: skip
        return body if isinstance(body, dict) else {}

    def _username(self, account: Account) -> str:
        return account.handle.lstrip("@")

    # ------------------------------------------------------------------ account

    async def _me(self, client: httpx.AsyncClient, account: Account, fields: str = "") -> dict[str, Any]:
        params = {"user.fields": fields} if fields else None
        body = self._json(await self._call(client, account, "GET", "/2/users/me", params=params))
        data = body.get("data")
        if not isinstance(data, dict):
            raise PlatformError(ErrorClass.TRANSIENT, "X did not describe the account; Siar will try again",
                                detail=str(body)[:300])  # fmt: skip
        return data

    async def verify(self, client: httpx.AsyncClient, account: Account) -> Verified:
        me = await self._me(client, account, "public_metrics,subscription_type,verified_type")
        limits: dict[str, int] = {}
        if me.get("subscription_type") in ("Premium", "PremiumPlus"):
            limits["max_text_length"] = PREMIUM_TEXT_LIMIT
        return Verified(handle=me["username"], display_name=me.get("name"), limits=limits,
                        token_expires_at=expiry_from(account.credentials))  # fmt: skip

    async def refresh(self, client: httpx.AsyncClient, account: Account) -> Refreshed:
        """OAuth 2.0 ``grant_type=refresh_token``; X rotates the refresh token."""
        credentials = account.credentials
        refresh_token = credentials.get("refresh_token")
        client_id = credentials.get("client_id")
        if not refresh_token or not client_id:
            raise PlatformError(ErrorClass.AUTH_REVOKED,
                                "the X access token cannot be renewed (no refresh token); connect the account again")
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
        auth = (client_id, credentials["client_secret"]) if credentials.get("client_secret") else None
        try:
            response = await client.post(self._url(account, "/2/oauth2/token"), data=form, auth=auth)
        except httpx.HTTPError as exc:
            raise PlatformError(ErrorClass.TRANSIENT, "could not reach X to renew the token; Siar will try again",
                                detail=f"{type(exc).__name__}: {exc}") from exc  # fmt: skip
        if response.status_code in (400, 401):
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise PlatformError(
                ErrorClass.AUTH_REVOKED, "X no longer accepts Siar's refresh token; connect the account again",
                detail=f"HTTP {response.status_code}: {body.get('error_description') or response.text[:200]}",
                status=response.status_code,
            )  # fmt: skip
        body = self._json(response)
        expires_at = in_seconds(body.get("expires_in", 7200))
        updated = {**credentials, "access_token": body["access_token"],
                   "refresh_token": body.get("refresh_token") or refresh_token}  # fmt: skip
        if expires_at is not None:
            updated["expires_at"] = expires_at.isoformat()
        return Refreshed(credentials=updated, expires_at=expires_at)

    # ------------------------------------------------------------------ media

    @staticmethod
    def _category(media: MediaItem, content_type: str) -> str:
        if media.kind == "gif" or content_type == "image/gif":
            return "tweet_gif"
        if media.kind == "video" or content_type.startswith("video/"):
            return "tweet_video"
        return "tweet_image"

    def _size_limit(self, account: Account, media: MediaItem) -> dict[str, Any]:
        """X's own limit for this kind of file (images 5 MB, GIFs 15 MB, videos 512 MB), as
        fetch_media_file's: a larger file is refused before it is downloaded whole."""
        rules = rules_for(self.platform, account.limits or None)
        limit = {"video": rules.max_video_bytes, "gif": rules.max_gif_bytes}.get(media.kind, rules.max_image_bytes)
        if not limit:
            return {}
        what = {"video": "videos", "gif": "GIFs"}.get(media.kind, "images")
        return {"limit": limit, "too_large": f"X takes {what} of up to {limit:,} bytes; the file at "
                f"{redact_url(media.url)} is larger: link a smaller one"}

    async def _upload(self, client: httpx.AsyncClient, account: Account, media: MediaItem) -> str:
        async with await fetch_media_file(client, media, **self._size_limit(account, media)) as fetched:
            category = self._category(media, fetched.content_type)
            init = self._json(await self._call(client, account, "POST", "/2/media/upload/initialize", json={
                "media_type": fetched.content_type, "total_bytes": fetched.size, "media_category": category,
            }))  # fmt: skip
            media_id = str(init["data"]["id"])
            for index, start in enumerate(range(0, fetched.size, self.chunk_bytes)):
                chunk = await fetched.read(start, start + self.chunk_bytes)
                response = await self._call(
                    client, account, "POST", f"/2/media/upload/{media_id}/append",
                    data={"segment_index": str(index)},
                    files={"media": (fetched.name, chunk, "application/octet-stream")},
                )  # fmt: skip
                if response.status_code not in (200, 201, 204):
                    raise self._error(response)
        final = self._json(await self._call(client, account, "POST", f"/2/media/upload/{media_id}/finalize"))
        info = (final.get("data") or {}).get("processing_info")
        deadline = Deadline(self.processing_wait_seconds)
        while info and info.get("state") not in ("succeeded", None):
            if info.get("state") == "failed":
                error = info.get("error") or {}
                raise PlatformError(
                    ErrorClass.INVALID_CONTENT,
                    f"X could not process the media at {media.url}: {error.get('message') or error.get('name') or 'failed'}",
                    detail=str(info),
                )  # fmt: skip
            wait = max(self.min_poll_seconds, float(info.get("check_after_secs") or 1))
            if not await deadline.sleep(wait):
                raise PlatformError(ErrorClass.TRANSIENT, "X is still processing the media; Siar will try again",
                                    detail=str(info))  # fmt: skip
            status = self._json(await self._call(client, account, "GET", "/2/media/upload",
                                                 params={"media_id": media_id, "command": "STATUS"}))  # fmt: skip
            info = (status.get("data") or {}).get("processing_info")
        if media.alt_text and category != "tweet_video":
            response = await self._call(client, account, "POST", "/2/media/metadata", json={
                "id": media_id, "metadata": {"alt_text": {"text": media.alt_text[:1000]}},
            })  # fmt: skip
            if response.status_code not in (200, 201):
                raise self._error(response)
        return media_id

    async def _media_ids(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> list[str]:
        """Upload each attachment, or reuse one an earlier attempt uploaded (X keeps media for a
        day; Siar reuses it for 20 hours)."""
        kept: dict[str, Any] = dict(post.progress.get("x_media") or {})
        now = datetime.now(UTC).timestamp()
        ids: list[str] = []
        for n, media in enumerate(post.media):
            key = f"{n}:{media.url}"
            earlier = kept.get(key)
            if isinstance(earlier, dict) and earlier.get("until", 0) > now:
                ids.append(str(earlier["id"]))
                continue
            media_id = await self._upload(client, account, media)
            ids.append(media_id)
            kept[key] = {"id": media_id, "until": now + 20 * 3600}
            await post.save(x_media=kept)
        return ids

    # ------------------------------------------------------------------ posting

    async def publish(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published:
        media_ids = await self._media_ids(client, account, post)
        body: dict[str, Any] = {}
        if post.text:
            body["text"] = post.text
        if media_ids:
            body["media"] = {"media_ids": media_ids}
        if account.settings.get("reply_settings"):
            body["reply_settings"] = account.settings["reply_settings"]
        sent_before = bool(post.progress.get("x_sent"))
        await post.save(x_sent=True)
        response = await self._call(client, account, "POST", "/2/tweets", json=body, lost=ErrorClass.OUTCOME_UNKNOWN)
        if response.status_code in (200, 201):
            data = self._json(response, 200, 201).get("data") or {}
            return self._published(account, str(data["id"]))
        error = self._error(response)
        if response.status_code >= 500:
            # X (or a gateway in front of it) can make the tweet and still answer 5xx: sending
            # again blindly could post twice, so the next attempt looks on the timeline first.
            raise PlatformError(
                ErrorClass.OUTCOME_UNKNOWN,
                f"X answered with a server error (HTTP {response.status_code}) after receiving the post, "
                "which it may have published anyway; Siar checks the account before sending again",
                detail=error.detail, status=response.status_code,
            )  # fmt: skip
        could_be_ours = sent_before or post.checkpoint is None
        if error.error_class == ErrorClass.DUPLICATE and could_be_ours:
            # The same text went out before. If an earlier attempt of this delivery sent it (its
            # answer lost), that tweet is this post; a library's own repeat stays a duplicate.
            found = await self._find(client, account, post)
            if found is not None:
                return found
        raise error

    def _published(self, account: Account, tweet_id: str) -> Published:
        return Published(platform_post_id=tweet_id, url=f"https://x.com/{self._username(account)}/status/{tweet_id}")

    async def _find(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        """The post on the account's timeline, matched by its text, since this delivery began. A
        timeline X will not show (an app tier without read access answers 403) leaves the outcome
        unknown: it says nothing about the account's right to post."""
        try:
            return await self._search(client, account, post)
        except PlatformError as exc:
            if exc.status != 403 and exc.error_class != ErrorClass.PERMISSION_DENIED:
                raise
            raise PlatformError(
                ErrorClass.OUTCOME_UNKNOWN,
                "X may have posted this, and it will not show Siar the account's timeline to check (the "
                "X app's access level does not include reading it); look at the account before sending "
                "it again", detail=exc.detail, status=exc.status,
            ) from exc  # fmt: skip

    async def _search(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        me = await self._me(client, account)
        params: dict[str, Any] = {"max_results": 100, "tweet.fields": "created_at,entities,attachments,note_tweet"}
        if post.first_attempt_at is not None:
            since = post.first_attempt_at - CLOCK_SKEW
            params["start_time"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        wanted = canonical(post.text)
        media_ids = self._kept_media_ids(post)
        for _ in range(TIMELINE_PAGES):
            body = self._json(await self._call(client, account, "GET", f"/2/users/{me['id']}/tweets", params=params))
            for tweet in body.get("data") or []:
                if canonical(expanded_text(tweet)) != wanted:
                    continue
                keys = (tweet.get("attachments") or {}).get("media_keys") or []
                if media_ids and not any(str(k).rsplit("_", 1)[-1] in media_ids for k in keys):
                    continue  # the same words with other pictures: not this post
                return self._published(account, str(tweet["id"]))
            next_token = (body.get("meta") or {}).get("next_token")
            if not next_token:
                break
            params["pagination_token"] = next_token
        return None

    @staticmethod
    def _kept_media_ids(post: Outgoing) -> set[str]:
        kept = post.progress.get("x_media") or {}
        return {str(v["id"]) for v in kept.values() if isinstance(v, dict) and "id" in v}

    async def reconcile(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        if not post.text.strip() and not self._kept_media_ids(post):
            raise PlatformError(
                ErrorClass.OUTCOME_UNKNOWN,
                "X may have received this media-only post and Siar cannot recognise it on the timeline; "
                "check the account before sending it again",
            )  # fmt: skip
        return await self._find(client, account, post)

    # ------------------------------------------------------------------ metrics

    async def insights(self, client: httpx.AsyncClient, account: Account, platform_post_id: str) -> dict[str, int | float]:
        body = self._json(await self._call(client, account, "GET", f"/2/tweets/{platform_post_id}",
                                           params={"tweet.fields": "public_metrics"}))  # fmt: skip
        data = body.get("data")
        if not isinstance(data, dict):
            raise PlatformError(ErrorClass.TARGET_GONE, "the post is no longer on X", detail=str(body.get("errors"))[:300])
        return {k: v for k, v in (data.get("public_metrics") or {}).items() if isinstance(v, int | float)}

    async def audience(self, client: httpx.AsyncClient, account: Account) -> dict[str, int]:
        me = await self._me(client, account, "public_metrics")
        return {k: v for k, v in (me.get("public_metrics") or {}).items() if isinstance(v, int)}

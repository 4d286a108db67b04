"""Bluesky (AT Protocol): a session on the account's PDS, images and videos through uploadBlob,
links, hashtags and mentions as facets with UTF-8 byte offsets, and an ``app.bsky.feed.post``
record created under a record key Siar chooses.

The record key is a TID fixed by the delivery (its idempotency key and the time of its first
attempt), so every attempt writes to the same key: a retry can never make a second post, and
reconcile (or a failed create) asks ``getRecord`` for that key.

Facts from shared/platforms.md (Bluesky): ``createSession`` gives ``accessJwt`` (2 hours) and
``refreshJwt`` (90 days), renewed with ``refreshSession``; XRPC errors ``{"error", "message"}``
(``ExpiredToken`` 400 means refresh); ``RateLimit-*`` headers, ``Retry-After`` on 429."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from siar_contracts import ErrorClass
from siar_platforms import extract_hashtags, extract_urls, rules_for

from ..redact import redact_url
from ..transport import STREAM
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
from .mediafetch import Fetched, MediaSource, fetch_media, fetch_media_file

DEFAULT_BASE = "https://bsky.social"
POST = "app.bsky.feed.post"
S32 = "234567abcdefghijklmnopqrstuvwxyz"
# Record keys derived without a first-attempt time still look like TIDs of a plausible moment.
_KEY_EPOCH_MICROS = 1_704_067_200 * 1_000_000  # 2024-01-01T00:00:00Z
_YEAR_MICROS = 365 * 86_400 * 1_000_000
_MENTION_RE = re.compile(r"(?<![\w@.])@([a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)+)")


def record_key(idempotency_key: str, first_attempt_at: datetime | None) -> str:
    """A TID (13 base32-sortable characters: 53 bits of microseconds, 10 bits of clock id) that
    is the same for every attempt of one delivery: the time is the delivery's first attempt
    (which never changes) and the clock id comes from its idempotency key."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).digest()
    clock_id = int.from_bytes(digest[:2], "big") & 0x3FF
    if first_attempt_at is not None:
        micros = int(first_attempt_at.timestamp() * 1_000_000)
    else:
        micros = _KEY_EPOCH_MICROS + int.from_bytes(digest[2:10], "big") % _YEAR_MICROS
    value = ((micros & ((1 << 53) - 1)) << 10) | clock_id
    out = []
    for _ in range(13):
        out.append(S32[value & 31])
        value >>= 5
    return "".join(reversed(out))


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def link_and_tag_facets(text: str) -> list[dict[str, Any]]:
    """Facets for the links and hashtags in ``text``, found as the content rules find them
    (siar_platforms), with byte offsets into the UTF-8 text as the lexicon requires."""
    facets: list[dict[str, Any]] = []
    taken: list[tuple[int, int]] = []
    pos = 0
    for url in extract_urls(text):
        start = text.find(url, pos)
        if start < 0:
            continue
        end = start + len(url)
        pos = end
        taken.append((start, end))
        uri = url if re.match(r"(?i)^https?://", url) else "https://" + url
        facets.append({"index": {"byteStart": _byte_offset(text, start), "byteEnd": _byte_offset(text, end)},
                       "features": [{"$type": "app.bsky.richtext.facet#link", "uri": uri}]})  # fmt: skip
    pos = 0
    for tag in extract_hashtags(text):
        start = -1
        for marker in ("#", "＃"):
            found = text.find(marker + tag, pos)
            while found >= 0 and any(s <= found < e for s, e in taken):
                found = text.find(marker + tag, found + 1)
            if found >= 0 and (start < 0 or found < start):
                start = found
        if start < 0:
            continue
        end = start + 1 + len(tag)
        pos = end
        facets.append({"index": {"byteStart": _byte_offset(text, start), "byteEnd": _byte_offset(text, end)},
                       "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}]})  # fmt: skip
    return facets


def jwt_expiry(token: str | None) -> datetime | None:
    """The ``exp`` of a JWT (read, not verified: the PDS verifies it)."""
    if not token:
        return None
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(float(claims["exp"]), UTC)
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class BlueskyAdapter:
    platform = "bluesky"
    required_credentials = ("identifier", "app_password")
    required_settings: tuple[str, ...] = ()
    idempotent_publish = True  # a record key fixed per delivery: a retry writes the same record

    # ------------------------------------------------------------------ plumbing

    def _url(self, account: Account, method: str) -> str:
        return f"{(account.base_url or DEFAULT_BASE).rstrip('/')}/xrpc/{method}"

    def _error(self, response: httpx.Response) -> PlatformError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        name = str(body.get("error") or "")
        message = body.get("message") or response.text[:300] or f"HTTP {status}"
        detail = f"HTTP {status} {name}: {message}".replace("  ", " ")
        if name in ("ExpiredToken", "InvalidToken", "AuthMissing", "AuthRequired"):
            return PlatformError(ErrorClass.AUTH_EXPIRED, "Bluesky did not accept the session; Siar renews it and "
                                 "tries again", detail=detail, status=status)  # fmt: skip
        if name == "AuthenticationRequired" or status == 401:
            return PlatformError(ErrorClass.AUTH_REVOKED, "Bluesky no longer accepts the app password; create a new "
                                 "app password and connect the account again", detail=detail, status=status)  # fmt: skip
        if name in ("AccountTakedown", "AccountDeactivated") or status == 403:
            return PlatformError(ErrorClass.PERMISSION_DENIED, f"Bluesky refused: {message}", detail=detail,
                                 status=status)  # fmt: skip
        if status == 429 or name == "RateLimitExceeded":
            return PlatformError(ErrorClass.RATE_LIMITED, "Bluesky asked Siar to slow down; the post goes out when "
                                 "the limit resets", detail=detail, status=status,
                                 retry_at=retry_after(response.headers) or datetime.now(UTC) + timedelta(minutes=5))  # fmt: skip
        if status >= 500:
            return PlatformError(ErrorClass.TRANSIENT, "Bluesky had a problem; Siar will try again", detail=detail,
                                 status=status)  # fmt: skip
        return PlatformError(ErrorClass.INVALID_CONTENT, f"Bluesky refused the post: {message}", detail=detail,
                             status=status)  # fmt: skip

    async def _send(self, client: httpx.AsyncClient, account: Account, method: str, http: str = "GET", *,
                    token: str | None = None, lost: ErrorClass = ErrorClass.TRANSIENT,
                    **kwargs: Any) -> httpx.Response:  # fmt: skip
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return await client.request(http, self._url(account, method), headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            error = transport_error(exc, "Bluesky")
            if error.error_class == ErrorClass.OUTCOME_UNKNOWN and lost != ErrorClass.OUTCOME_UNKNOWN:
                error = PlatformError(ErrorClass.TRANSIENT, "Bluesky did not answer in time; Siar will try again",
                                      detail=error.detail)  # fmt: skip
            raise error from exc

    def _ok(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            raise self._error(response)
        body = response.json()
        return body if isinstance(body, dict) else {}

    # ------------------------------------------------------------------ sessions

    async def _create_session(self, client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
        credentials = account.credentials
        response = await self._send(client, account, "com.atproto.server.createSession", "POST",
                                    json={"identifier": credentials["identifier"],
                                          "password": credentials["app_password"]})  # fmt: skip
        if response.status_code == 401:
            raise self._error(response)  # AuthenticationRequired: a person must act
        return self._ok(response)

    async def _session(self, client: httpx.AsyncClient, account: Account) -> tuple[str, str]:
        """(did, accessJwt): the session kept in the credentials (see ``refresh``), else a new one."""
        credentials = account.credentials
        if credentials.get("access_jwt") and credentials.get("did"):
            return credentials["did"], credentials["access_jwt"]
        session = await self._create_session(client, account)
        return session["did"], session["accessJwt"]

    async def verify(self, client: httpx.AsyncClient, account: Account) -> Verified:
        session = await self._create_session(client, account)
        profile = self._ok(await self._send(client, account, "app.bsky.actor.getProfile",
                                            params={"actor": session["did"]}, token=session["accessJwt"]))  # fmt: skip
        kept = jwt_expiry(account.credentials.get("access_jwt"))
        # Without a session kept in the credentials, "expires now" makes the refresher create and
        # keep one at once (createSession is limited to 30 per 5 minutes: not one per post).
        return Verified(handle=session.get("handle") or profile.get("handle"), display_name=profile.get("displayName"),
                        token_expires_at=kept or datetime.now(UTC))  # fmt: skip

    async def refresh(self, client: httpx.AsyncClient, account: Account) -> Refreshed:
        """refreshSession with the kept refresh token; when that is gone or refused, a new
        session from the app password (refused: the account needs reconnecting)."""
        credentials = account.credentials
        session: dict[str, Any] | None = None
        if credentials.get("refresh_jwt"):
            response = await self._send(client, account, "com.atproto.server.refreshSession", "POST",
                                        token=credentials["refresh_jwt"])  # fmt: skip
            if response.status_code == 200:
                session = response.json()
            elif response.status_code == 429 or response.status_code >= 500:
                raise self._error(response)
        if session is None:
            session = await self._create_session(client, account)
        updated = {**credentials, "access_jwt": session["accessJwt"], "refresh_jwt": session["refreshJwt"],
                   "did": session["did"], "handle": session.get("handle")}  # fmt: skip
        return Refreshed(credentials=updated, expires_at=jwt_expiry(session["accessJwt"]))

    # ------------------------------------------------------------------ posting

    async def _mention_facets(self, client: httpx.AsyncClient, account: Account, text: str) -> list[dict[str, Any]]:
        facets = []
        for m in _MENTION_RE.finditer(text):
            try:
                response = await self._send(client, account, "com.atproto.identity.resolveHandle",
                                            params={"handle": m.group(1).lower()})  # fmt: skip
            except PlatformError:
                continue
            if response.status_code != 200:
                continue  # not a Bluesky handle: left as plain text
            facets.append({"index": {"byteStart": _byte_offset(text, m.start()), "byteEnd": _byte_offset(text, m.end())},
                           "features": [{"$type": "app.bsky.richtext.facet#mention", "did": response.json()["did"]}]})  # fmt: skip
        return facets

    async def _embed(self, client: httpx.AsyncClient, account: Account, post: Outgoing, token: str) -> dict[str, Any] | None:
        if not post.media:
            return None
        blobs = []
        for media in post.media:
            async with await self._fetch(client, account, media) as fetched:
                # A video (up to 300 MB) goes from the publisher's disk as it is read (STREAM);
                # images from memory.
                streamed = not isinstance(fetched, Fetched)
                response = await self._send(
                    client, account, "com.atproto.repo.uploadBlob", "POST", token=token,
                    content=fetched.chunks() if streamed else fetched.data,  # type: ignore[union-attr]
                    headers={"Content-Type": fetched.content_type, "Content-Length": str(fetched.size)},
                    extensions={STREAM: streamed},
                )  # fmt: skip
            blobs.append((media, self._ok(response)["blob"]))
        if any(m.kind == "video" for m, _ in blobs):
            media, blob = blobs[0]
            embed: dict[str, Any] = {"$type": "app.bsky.embed.video", "video": blob}
            if media.alt_text:
                embed["alt"] = media.alt_text
            return embed
        return {"$type": "app.bsky.embed.images",
                "images": [{"image": blob, "alt": media.alt_text or ""} for media, blob in blobs]}  # fmt: skip

    async def _fetch(self, client: httpx.AsyncClient, account: Account, media) -> MediaSource:
        """The file, refused before any upload when it is over the embed's limit (images
        2,000,000 bytes, a video 300,000,000: app.bsky.embed.images / embed.video); its size was
        perhaps not known when the post was checked, and the PDS would keep the blob only for
        the record to be refused."""
        rules = rules_for(self.platform, account.limits or None)
        video = media.kind == "video"
        limit = (rules.max_video_bytes if video else rules.max_image_bytes) or 0
        what = "a video" if video else "images"
        too_big = (f"Bluesky takes {what} of up to {limit:,} bytes; the file at {redact_url(media.url)} is "
                   "larger: link a smaller one")  # fmt: skip
        if video:
            return await fetch_media_file(client, media, limit=limit or None, too_large=too_big)
        if not limit:
            return await fetch_media(client, media)
        return await fetch_media(client, media, limit=limit, too_large=too_big)

    async def _get_record(self, client: httpx.AsyncClient, account: Account, did: str, rkey: str) -> dict[str, Any] | None:
        response = await self._send(client, account, "com.atproto.repo.getRecord",
                                    params={"repo": did, "collection": POST, "rkey": rkey})  # fmt: skip
        if response.status_code == 200:
            return response.json()
        try:
            name = response.json().get("error")
        except (ValueError, AttributeError):
            name = None
        if response.status_code == 400 and name == "RecordNotFound":
            return None
        raise self._error(response)

    def _published(self, account: Account, uri: str) -> Published:
        rkey = uri.rsplit("/", 1)[-1]
        return Published(platform_post_id=uri, url=f"https://bsky.app/profile/{account.handle.lstrip('@')}/post/{rkey}")

    async def publish(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published:
        did, token = await self._session(client, account)
        rkey = record_key(post.idempotency_key or post.target_id, post.first_attempt_at)
        record: dict[str, Any] = {"$type": POST, "text": post.text,
                                  "createdAt": _iso(post.first_attempt_at or datetime.now(UTC))}  # fmt: skip
        facets = link_and_tag_facets(post.text) + await self._mention_facets(client, account, post.text)
        if facets:
            record["facets"] = sorted(facets, key=lambda f: f["index"]["byteStart"])
        if account.settings.get("language"):
            record["langs"] = [account.settings["language"]]
        embed = await self._embed(client, account, post, token)
        if embed is not None:
            record["embed"] = embed
        response = await self._send(client, account, "com.atproto.repo.createRecord", "POST", token=token,
                                    lost=ErrorClass.OUTCOME_UNKNOWN,
                                    json={"repo": did, "collection": POST, "rkey": rkey, "record": record})  # fmt: skip
        if response.status_code == 200:
            return self._published(account, response.json()["uri"])
        error = self._error(response)
        if error.error_class == ErrorClass.TRANSIENT:
            # A server error may mean the key is taken - by this very post, from an attempt whose
            # answer was lost (the reference PDS fails a second create at a key this way).
            existing = await self._get_record(client, account, did, rkey)
            if existing is not None:
                if (existing.get("value") or {}).get("text") == post.text:
                    return self._published(account, existing["uri"])
                raise PlatformError(ErrorClass.DUPLICATE, "another Bluesky post already uses this post's record key",
                                    detail=f"{existing.get('uri')}: {error.detail}")  # fmt: skip
        raise error

    async def reconcile(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        did = account.credentials.get("did") or (await self._session(client, account))[0]
        existing = await self._get_record(client, account, did,
                                          record_key(post.idempotency_key or post.target_id, post.first_attempt_at))  # fmt: skip
        return self._published(account, existing["uri"]) if existing is not None else None

    # ------------------------------------------------------------------ metrics

    async def insights(self, client: httpx.AsyncClient, account: Account, platform_post_id: str) -> dict[str, int | float]:
        _, token = await self._session(client, account)
        body = self._ok(await self._send(client, account, "app.bsky.feed.getPosts",
                                         params={"uris": [platform_post_id]}, token=token))  # fmt: skip
        posts = body.get("posts") or []
        if not posts:
            raise PlatformError(ErrorClass.TARGET_GONE, "the post is no longer on Bluesky")
        return {k: v for k, v in posts[0].items() if k.endswith("Count") and isinstance(v, int | float)}

    async def audience(self, client: httpx.AsyncClient, account: Account) -> dict[str, int]:
        did, token = await self._session(client, account)
        profile = self._ok(await self._send(client, account, "app.bsky.actor.getProfile",
                                            params={"actor": did}, token=token))  # fmt: skip
        return {k: v for k, v in profile.items() if k.endswith("Count") and isinstance(v, int)}

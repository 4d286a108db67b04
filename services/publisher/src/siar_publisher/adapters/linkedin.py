"""LinkedIn Posts API: images through ``/rest/images?action=initializeUpload`` -> ``PUT`` the
bytes -> the post with the image URN; the post's URN comes back in ``x-restli-id``.

Facts from shared/platforms.md (LinkedIn): ``POST https://api.linkedin.com/rest/posts`` with
``LinkedIn-Version: YYYYMM`` and ``X-Restli-Protocol-Version: 2.0.0``, body ``{author,
commentary, visibility, distribution, lifecycleState, isReshareDisabledByAuthor}`` plus
``content.media.id`` (one image) or ``content.multiImage.images`` (several); 201 with an empty
body; the URL ``https://www.linkedin.com/feed/update/{urn}``; commentary in the "little text"
format (``\\ | { } @ [ ] ( ) < > # * _ ~`` escaped outside hashtags and URLs:
learn.microsoft.com/linkedin/marketing/community-management/shares/little-text-format); 401
``REVOKED_ACCESS_TOKEN`` (65601); 422 ``DUPLICATE_POST`` naming the earlier post's URN, as
``{"errorDetailType", "message": "…Content is a duplicate of urn:li:share:…", "errorDetails":
{"inputErrors": [{"code": "DUPLICATE_POST", …}]}, "status": 422}`` with no top-level ``code``
(Arisamiga/Linkedin-RSS#5); 426 when the ``LinkedIn-Version`` is no longer (or not) active
(LinkedIn supports each monthly version for about a year); a 5xx answering ``POST /rest/posts``
leaves the outcome unknown (the post may be live), so the next attempt reconciles first; 429 with
no rate-limit headers, daily limits resetting at midnight UTC; access tokens last 60 days, and
only partners' programmatic refresh tokens renew them (``POST /oauth/v2/accessToken
grant_type=refresh_token`` on www.linkedin.com). Metrics: ``organizationalEntityShareStatistics``
(organization posts only) and ``networkSizes`` (an organization's followers).

Settings: ``author`` (``urn:li:person:…`` or ``urn:li:organization:…``), optional
``linkedin_version`` (this account only) and ``oauth_base_url``. The operator sets the version
for every account with ``SIAR_LINKEDIN_VERSION`` (``YYYYMM``; :mod:`siar_publisher.settings`),
else :data:`DEFAULT_VERSION`. Credentials: ``access_token``; for renewal
``refresh_token``, ``client_id`` and ``client_secret``; optional ``expires_at``."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from siar_contracts import ErrorClass, MediaItem

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
from .containers import credentials_expiry
from .graph import RECONCILE_SLACK, cannot_tell, poll
from .mediafetch import fetch_media

DEFAULT_VERSION = "202611"  # LinkedIn sunsets a monthly version about a year after its release
VERSION_VARIABLE = "SIAR_LINKEDIN_VERSION"  # PublisherSettings.linkedin_version
OAUTH_HOST = "https://www.linkedin.com"
_ORG = re.compile(r"^urn:li:organization:(\d+)$")
_PERSON = re.compile(r"^urn:li:person:(.+)$")
_POST_URN = re.compile(r"urn:li:(?:share|ugcPost):\d+")
_KEEP = re.compile(r"https?://[^\s<>]+|(?<![\w&/])#\w+")
_RESERVED = re.compile(r"([\\|{}@\[\]()<>#*_~])")


def little_text(text: str) -> str:
    """``text`` in LinkedIn's little text format: reserved characters backslash-escaped, except in
    hashtags (``#tag`` is little's HashtagElement) and URLs (left intact so they still link)."""
    out = []
    last = 0
    for match in _KEEP.finditer(text):
        out.append(_RESERVED.sub(r"\\\1", text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_RESERVED.sub(r"\\\1", text[last:]))
    return "".join(out)


def post_url(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}"


def api_version(account: Account) -> str:
    """The ``LinkedIn-Version`` to send: the account's own setting, else the operator's
    ``SIAR_LINKEDIN_VERSION``, else :data:`DEFAULT_VERSION`."""
    return str(account.settings.get("linkedin_version") or os.environ.get(VERSION_VARIABLE, "").strip()
               or DEFAULT_VERSION)  # fmt: skip


def _input_error_codes(body: dict[str, Any]) -> list[str]:
    """``errorDetails.inputErrors[*].code``: where LinkedIn names a validation failure such as
    ``DUPLICATE_POST`` (the body then has no top-level ``code``)."""
    details = body.get("errorDetails")
    errors = details.get("inputErrors") if isinstance(details, dict) else None
    return [str(e["code"]) for e in errors or [] if isinstance(e, dict) and e.get("code")]


def _next_midnight_utc() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1, minutes=1)


class LinkedInAdapter:
    platform = "linkedin"
    name = "LinkedIn"
    required_credentials = ("access_token",)
    required_settings = ("author",)
    processing_wait_seconds = 20.0
    poll_first_delay = 0.3

    # --- calls

    def _headers(self, account: Account, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {account.credentials['access_token']}",
            "LinkedIn-Version": api_version(account),
            "X-Restli-Protocol-Version": "2.0.0",
            **extra,
        }

    def _url(self, account: Account, path: str) -> str:
        return account.base_url.rstrip("/") + path

    def _oauth(self, account: Account) -> str:
        configured = account.settings.get("oauth_base_url")
        if configured:
            return str(configured).rstrip("/")
        base = account.base_url.rstrip("/")
        return OAUTH_HOST if "api.linkedin.com" in base else base

    def gives_insights(self, settings: dict) -> bool:
        """Only an organization's posts and followers can be read (see :meth:`insights`)."""
        return _ORG.match(str(settings.get("author") or "")) is not None

    def _author(self, account: Account) -> str:
        return str(account.settings["author"])

    def _error(self, response: httpx.Response, *, creates: bool = False) -> PlatformError:
        """A LinkedIn failure, classified; ``creates``: the call makes a post public, so a server
        error leaves the outcome unknown."""
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        code = str(body.get("code") or "")
        inputs = _input_error_codes(body)
        service = body.get("serviceErrorCode")
        message = str(body.get("message") or response.text[:300])
        codes = ", ".join(([code] if code else []) + inputs) or "-"
        detail = f"HTTP {status}: {codes}" + (f" ({service})" if service is not None else "") + f": {message}"

        def fail(klass: ErrorClass, reason: str, at: datetime | None = None) -> PlatformError:
            return PlatformError(klass, reason, detail=detail, retry_at=at, status=status)

        if status == 401:
            if code == "EXPIRED_ACCESS_TOKEN" or service == 65602:
                return fail(ErrorClass.AUTH_EXPIRED, "the LinkedIn access token has expired; Siar will renew it")
            return fail(ErrorClass.AUTH_REVOKED,
                        "LinkedIn no longer accepts this account's access token; connect the account again")
        if status == 403:
            return fail(ErrorClass.PERMISSION_DENIED,
                        "LinkedIn refused: this token may not post for this author (missing permission or role)")
        if status == 404:
            return fail(ErrorClass.TARGET_GONE, "LinkedIn cannot find this member, organization or post")
        if status == 422 and ("DUPLICATE_POST" in inputs or "Content is a duplicate of" in message):
            return fail(ErrorClass.DUPLICATE, f"LinkedIn refused the post as a duplicate: {message}")
        if status == 426:
            version = response.request.headers.get("linkedin-version") or "?"
            reason = (f"LinkedIn no longer supports the API version Siar sends (LinkedIn-Version {version}); "
                      f"this is a Siar configuration problem, not the post's: an operator must set "
                      f"{VERSION_VARIABLE} to a recent month (YYYYMM, e.g. {DEFAULT_VERSION}) and restart the "
                      "publisher, or remove an outdated linkedin_version from the account's settings")  # fmt: skip
            return PlatformError(ErrorClass.INTERNAL, reason, detail=detail, status=status, connect_reason=reason)
        if status == 429:
            if "DAY" in message:
                return fail(ErrorClass.QUOTA_EXHAUSTED,
                            "this account reached LinkedIn's daily limit; Siar will post after midnight UTC",
                            _next_midnight_utc())
            return fail(ErrorClass.RATE_LIMITED, "LinkedIn asked Siar to slow down; the post goes out shortly",
                        retry_after(response.headers) or datetime.now(UTC) + timedelta(seconds=60))
        if status >= 500:
            if creates:
                return fail(ErrorClass.OUTCOME_UNKNOWN, "LinkedIn reported a problem and may have published the "
                            "post anyway; Siar checks before sending it again")
            return fail(ErrorClass.TRANSIENT, "LinkedIn had a problem; Siar will try again")
        return fail(ErrorClass.INVALID_CONTENT, f"LinkedIn refused the post: {message}")

    async def _send(self, client: httpx.AsyncClient, method: str, url: str, *, creates: bool = False,
                    **kwargs: Any) -> httpx.Response:  # fmt: skip
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            error = transport_error(exc, "LinkedIn")
            if error.error_class == ErrorClass.OUTCOME_UNKNOWN and not creates:
                error = PlatformError(ErrorClass.TRANSIENT, "LinkedIn did not answer in time; Siar will try again",
                                      detail=error.detail)
            raise error from exc
        if not 200 <= response.status_code < 300:
            raise self._error(response, creates=creates)
        return response

    async def _get(self, client: httpx.AsyncClient, account: Account, path: str, **headers: str) -> dict[str, Any]:
        response = await self._send(client, "GET", self._url(account, path), headers=self._headers(account, **headers))
        body = response.json()
        return body if isinstance(body, dict) else {}

    # --- account

    async def verify(self, client: httpx.AsyncClient, account: Account) -> Verified:
        author = self._author(account)
        org = _ORG.match(author)
        if org:
            found = await self._get(client, account, f"/rest/organizations/{org.group(1)}")
            handle = str(found.get("vanityName") or org.group(1))
            display = found.get("localizedName")
        else:
            person = _PERSON.match(author)
            if person is None:
                raise PlatformError(ErrorClass.INVALID_CONTENT,
                                    f"the LinkedIn author must be urn:li:person:… or urn:li:organization:…, not {author!r}")
            me = await self._get(client, account, "/v2/userinfo")
            if str(me.get("sub")) != person.group(1):
                raise PlatformError(ErrorClass.PERMISSION_DENIED,
                                    "this LinkedIn token belongs to another member than the author",
                                    detail=f"token member urn:li:person:{me.get('sub')}, author {author}")
            handle, display = person.group(1), me.get("name")
        return Verified(handle=handle, display_name=display, token_expires_at=await self._expiry(client, account))

    async def _expiry(self, client: httpx.AsyncClient, account: Account) -> datetime | None:
        creds = account.credentials
        if creds.get("client_id") and creds.get("client_secret"):
            try:
                response = await self._send(
                    client, "POST", f"{self._oauth(account)}/oauth/v2/introspectToken",
                    data={"client_id": creds["client_id"], "client_secret": creds["client_secret"],
                          "token": creds["access_token"]},
                )  # fmt: skip
                body = response.json()
            except (PlatformError, ValueError):
                body = {}
            if isinstance(body, dict) and body.get("active") and isinstance(body.get("expires_at"), int | float):
                return datetime.fromtimestamp(body["expires_at"], UTC)
        return credentials_expiry(creds)

    async def refresh(self, client: httpx.AsyncClient, account: Account) -> Refreshed:
        creds = account.credentials
        if not (creds.get("refresh_token") and creds.get("client_id") and creds.get("client_secret")):
            raise PlatformError(ErrorClass.AUTH_REVOKED,
                                "this LinkedIn token cannot be renewed (no refresh token); connect the account again")
        url = f"{self._oauth(account)}/oauth/v2/accessToken"
        form = {"grant_type": "refresh_token", "refresh_token": creds["refresh_token"],
                "client_id": creds["client_id"], "client_secret": creds["client_secret"]}  # fmt: skip
        try:
            response = await client.post(url, data=form)
        except httpx.HTTPError as exc:
            raise PlatformError(ErrorClass.TRANSIENT, "could not reach LinkedIn to renew the token",
                                detail=f"{type(exc).__name__}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 500:
            raise PlatformError(ErrorClass.TRANSIENT, "LinkedIn had a problem renewing the token; Siar will try again",
                                detail=f"HTTP {response.status_code}", status=response.status_code)
        if response.status_code != 200 or not body.get("access_token"):
            raise PlatformError(ErrorClass.AUTH_REVOKED,
                                "LinkedIn refused to renew the token; connect the account again",
                                detail=f"HTTP {response.status_code}: {body.get('error')}: {body.get('error_description')}",
                                status=response.status_code)
        expires_in = body.get("expires_in")
        return Refreshed(
            credentials={**creds, "access_token": body["access_token"],
                         "refresh_token": body.get("refresh_token") or creds["refresh_token"]},
            expires_at=datetime.now(UTC) + timedelta(seconds=float(expires_in))
            if isinstance(expires_in, int | float) else None,
        )  # fmt: skip

    # --- publishing

    async def _upload_image(self, client: httpx.AsyncClient, account: Account, media: MediaItem) -> str:
        fetched = await fetch_media(client, media)
        init = await self._send(
            client, "POST", self._url(account, "/rest/images?action=initializeUpload"),
            headers=self._headers(account),
            json={"initializeUploadRequest": {"owner": self._author(account)}},
        )  # fmt: skip
        value = init.json().get("value") or {}
        upload_url, urn = value.get("uploadUrl"), value.get("image")
        if not upload_url or not urn:
            raise PlatformError(ErrorClass.TRANSIENT, "LinkedIn gave no upload address; Siar will try again",
                                detail=init.text[:300])
        await self._send(client, "PUT", upload_url, content=fetched.data,
                         headers={"Authorization": f"Bearer {account.credentials['access_token']}",
                                  "Content-Type": fetched.content_type})  # fmt: skip

        async def available() -> bool:
            image = await self._get(client, account, f"/rest/images/{quote(urn, safe='')}")
            status = image.get("status")
            if status == "PROCESSING_FAILED":
                raise PlatformError(ErrorClass.INVALID_CONTENT,
                                    f"LinkedIn could not process the image at {media.url}", detail=str(image)[:300])
            return status == "AVAILABLE"

        if not await poll(available, self.processing_wait_seconds, self.poll_first_delay):
            raise PlatformError(ErrorClass.TRANSIENT, "LinkedIn is still processing the image; Siar will try again",
                                detail=f"{urn} not AVAILABLE after {self.processing_wait_seconds:g} s")
        return str(urn)

    async def publish(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published:
        media = list(post.media)
        if any(m.kind == "video" for m in media):
            # siar_platforms' rules refuse it when the post is scheduled; this guards older posts.
            raise PlatformError(ErrorClass.INVALID_CONTENT,
                                "Siar does not send videos to LinkedIn yet; post the images or a link instead")
        images = [(await self._upload_image(client, account, m), m.alt_text) for m in media]
        body: dict[str, Any] = {
            "author": self._author(account),
            "commentary": little_text(post.text),
            "visibility": str(account.settings.get("visibility") or "PUBLIC"),
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                             "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }  # fmt: skip
        if len(images) == 1:
            urn, alt = images[0]
            body["content"] = {"media": {"id": urn, **({"altText": alt} if alt else {})}}
        elif images:
            body["content"] = {"multiImage": {"images": [{"id": u, **({"altText": a} if a else {})}
                                                         for u, a in images]}}  # fmt: skip
        try:
            response = await self._send(client, "POST", self._url(account, "/rest/posts"), creates=True,
                                        headers=self._headers(account), json=body)  # fmt: skip
        except PlatformError as exc:
            if exc.error_class != ErrorClass.DUPLICATE:
                raise
            found = await self._duplicate_of_ours(client, account, post, exc)
            if found is not None:
                return found
            raise
        urn = response.headers.get("x-restli-id") or response.headers.get("x-linkedin-id")
        if not urn:
            raise PlatformError(ErrorClass.OUTCOME_UNKNOWN,
                                "LinkedIn accepted the post without saying its id; Siar checks before sending again",
                                detail=f"HTTP {response.status_code} without x-restli-id")
        return Published(platform_post_id=urn, url=post_url(urn))

    def _ours(self, element: dict[str, Any], post: Outgoing) -> bool:
        if element.get("commentary") != little_text(post.text):
            return False
        created = element.get("createdAt")
        if post.first_attempt_at is None or not isinstance(created, int | float):
            return True
        return datetime.fromtimestamp(created / 1000, UTC) >= post.first_attempt_at - RECONCILE_SLACK

    async def _duplicate_of_ours(self, client: httpx.AsyncClient, account: Account, post: Outgoing,
                                 error: PlatformError) -> Published | None:  # fmt: skip
        """DUPLICATE_POST names the earlier post: if it is this delivery's (an attempt whose
        answer was lost), the post is published. The URN is checked, never trusted blindly."""
        match = _POST_URN.search(error.detail or "")
        if match is None:
            return None
        try:
            element = await self._get(client, account, f"/rest/posts/{quote(match.group(0), safe='')}")
        except PlatformError as exc:
            if exc.error_class in (ErrorClass.TARGET_GONE, ErrorClass.PERMISSION_DENIED):
                return None
            raise
        if element.get("author") == self._author(account) and self._ours(element, post):
            return Published(platform_post_id=match.group(0), url=post_url(match.group(0)))
        return None

    async def reconcile(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        unknown = cannot_tell(self.name, post)
        if unknown is not None:
            raise unknown
        author = quote(self._author(account), safe="")
        try:
            body = await self._get(client, account, f"/rest/posts?q=author&author={author}&count=20&sortBy=LAST_MODIFIED",
                                   **{"X-RestLi-Method": "FINDER"})  # fmt: skip
        except PlatformError as exc:
            if exc.error_class == ErrorClass.PERMISSION_DENIED:
                # Listing a member's posts needs a restricted permission: send again, and let
                # DUPLICATE_POST point at the copy if the first attempt did go through.
                return None
            raise
        ours = [e for e in body.get("elements") or [] if isinstance(e, dict) and self._ours(e, post)]
        if not ours:
            return None
        first = min(ours, key=lambda e: e.get("createdAt") or 0)
        return Published(platform_post_id=str(first["id"]), url=post_url(str(first["id"])))

    # --- metrics

    async def insights(self, client: httpx.AsyncClient, account: Account, platform_post_id: str) -> dict[str, int | float]:
        """``totalShareStatistics`` of an organization's post; a member's posts have no
        statistics in the Posts API (the analytics API for members is restricted), so ``{}``."""
        org = _ORG.match(self._author(account))
        if org is None:
            return {}
        kind = "ugcPosts" if platform_post_id.startswith("urn:li:ugcPost:") else "shares"
        path = ("/rest/organizationalEntityShareStatistics?q=organizationalEntity"
                f"&organizationalEntity={quote(self._author(account), safe='')}"
                f"&{kind}=List({quote(platform_post_id, safe='')})")  # fmt: skip
        body = await self._get(client, account, path)
        for element in body.get("elements") or []:
            stats = element.get("totalShareStatistics") if isinstance(element, dict) else None
            if isinstance(stats, dict):
                return {k: v for k, v in stats.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        return {}

    async def audience(self, client: httpx.AsyncClient, account: Account) -> dict[str, int]:
        """An organization's followers (``networkSizes``); ``{}`` for a member."""
        if _ORG.match(self._author(account)) is None:
            return {}
        author = quote(self._author(account), safe="")
        body = await self._get(client, account, f"/rest/networkSizes/{author}?edgeType=COMPANY_FOLLOWED_BY_MEMBER")
        size = body.get("firstDegreeSize")
        return {"firstDegreeSize": size} if isinstance(size, int) else {}

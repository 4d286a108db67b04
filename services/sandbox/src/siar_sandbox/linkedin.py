"""An imitation of LinkedIn's Posts API (api.linkedin.com) and OAuth (www.linkedin.com), mounted
under ``/linkedin``.

Versioned endpoints (``/rest/…``) need ``LinkedIn-Version: YYYYMM`` (400 VERSION_MISSING
otherwise) and a Bearer token:

- ``GET /v2/userinfo`` (OpenID: ``sub``, ``name``), ``GET /rest/organizations/{id}``;
- ``POST /rest/images?action=initializeUpload`` ``{"initializeUploadRequest":{"owner"}}`` ->
  ``value.uploadUrl`` and ``value.image`` (``urn:li:image:…``); ``PUT`` the bytes to the upload
  URL (201); ``GET /rest/images/{urn}``: WAITING_UPLOAD -> PROCESSING (for
  ``meta_image_processing_seconds``) -> AVAILABLE, or PROCESSING_FAILED when the bytes are not an
  image;
- ``POST /rest/posts`` (author, commentary, visibility, distribution, lifecycleState, optional
  ``content.media.id`` or ``content.multiImage.images``) -> 201, empty body, the post's URN in
  ``x-restli-id``; the post is recorded with its commentary unescaped (little text format);
- ``GET /rest/posts/{urn}``, ``GET /rest/posts?q=author&author={urn}`` (newest first);
- ``GET /rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=
  {org}&shares=List(…)`` (``totalShareStatistics`` growing with the time since publication),
  ``GET /rest/networkSizes/{org}?edgeType=COMPANY_FOLLOWED_BY_MEMBER`` (``firstDegreeSize``);
- ``POST /oauth/v2/accessToken`` (``grant_type=refresh_token``) and ``POST
  /oauth/v2/introspectToken``.

Tokens: any non-empty Bearer token is valid unless it starts with ``revoked`` or was revoked
through the control API (401 REVOKED_ACCESS_TOKEN, 65601), starts with ``expired``, was
expired through the control API or issued by a refresh and has ended (401
EXPIRED_ACCESS_TOKEN, 65602); one starting with
``noperm`` may not post (403 ACCESS_DENIED). The token's part before the first ``.`` names the
member (``library.secret`` -> ``urn:li:person:…`` from :func:`person_id`). Any organization
may be posted as, except ids starting with ``0`` (404).

Errors: 422 DUPLICATE_POST for the same commentary and content by the same author within 24 hours
(the window is unconfirmed), in LinkedIn's shape with no top-level ``code`` (Arisamiga/Linkedin-RSS#5):
``{"errorDetailType": "com.linkedin.common.error.BadRequest", "message": "…: Content is a duplicate
of urn:li:share:…", "errorDetails": {"inputErrors": [{"description", "input", "code":
"DUPLICATE_POST"}]}, "status": 422}``; 422 for commentary
over 3,000 characters; 429 with no rate-limit headers for an injected 429 and for the
``calls`` limit, "… DAY limit …" for the daily ``posts`` limit per author (windows aligned to
midnight UTC, as LinkedIn resets)."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import postmetrics as engagement
from .context import Sandbox, sandbox_of
from .faults import ERROR_CODES
from .mediainfo import sniff_mime
from .responses import json_bytes, nginx_error_page
from .settings import Settings
from .store import Post, Store, stable_number

PLATFORM = "linkedin"
COMMENTARY_LIMIT = 3_000
MULTI_IMAGE_MIN, MULTI_IMAGE_MAX = 2, 20
TOKEN_SECONDS = 5_184_000  # 60 days
REFRESH_TOKEN_SECONDS = 365 * 86_400
DUPLICATE_WINDOW = 24 * 3600
_VERSION_RE = re.compile(r"^\d{6}(\.\d{2})?$")
_ORG_RE = re.compile(r"^urn:li:organization:(\d+)$")
_PERSON_RE = re.compile(r"^urn:li:person:([A-Za-z0-9_-]+)$")
_LITTLE_TEXT_ESCAPE = re.compile(r"\\([\\|{}@\[\]()<>#*_~])")
_HASHTAG_TEMPLATE = re.compile(r"\{hashtag\|\\?#\|([^}]*)\}")
_ALPHABET = string.ascii_letters + string.digits

log = structlog.get_logger("siar_sandbox.linkedin")


def person_id(name: str) -> str:
    """The member id of the person a token names (``library.secret`` -> ``library``)."""
    number = stable_number(f"linkedin:{name}", 62**10)
    out = []
    for _ in range(10):
        number, digit = divmod(number, 62)
        out.append(_ALPHABET[digit])
    return "".join(out)


def unescape(commentary: str) -> str:
    """What readers see of a little-text commentary: ``{hashtag|\\#|tag}`` as ``#tag`` and
    backslash escapes removed."""
    tagged = _HASHTAG_TEMPLATE.sub(lambda m: "#" + m.group(1), commentary)
    return _LITTLE_TEXT_ESCAPE.sub(r"\1", tagged)


def share_statistics(urn: str, age_seconds: float) -> dict[str, Any]:
    """``totalShareStatistics`` of a post ``age_seconds`` after publication."""
    impressions = engagement.grown(urn, "impressionCount", age_seconds, 100, 5_000)
    unique = impressions * (60 + stable_number(f"{urn}:unique", 30)) // 100
    clicks = engagement.grown(urn, "clickCount", age_seconds, 0, 300)
    likes = engagement.grown(urn, "likeCount", age_seconds, 0, 200)
    comments = engagement.grown(urn, "commentCount", age_seconds, 0, 30)
    shares = engagement.grown(urn, "shareCount", age_seconds, 0, 20)
    rate = (clicks + likes + comments + shares) / impressions if impressions else 0.0
    return {
        "uniqueImpressionsCount": unique, "shareCount": shares, "engagement": rate,
        "clickCount": clicks, "likeCount": likes, "impressionCount": impressions,
        "commentCount": comments,
    }  # fmt: skip


def follower_count(org_urn: str, posts: int) -> int:
    return engagement.followers(org_urn, 100, 10_000, posts)


# --------------------------------------------------------------------------- state


@dataclass
class Token:
    token: str
    user: str
    issued_at: float
    expires_at: float


@dataclass
class Image:
    urn: str
    owner: str
    upload_id: str
    created: float
    uploaded_at: float | None = None
    mime: str | None = None
    ready_at: float = 0.0


@dataclass
class LinkedInPost:
    urn: str
    author: str
    commentary: str
    body: dict[str, Any]
    created: float
    images: list[str] = field(default_factory=list)

    def content_key(self) -> tuple[str, str, tuple[str, ...]]:
        return (self.author, self.commentary, tuple(self.images))


class LinkedInState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, tuple[str, float]] = {}  # -> (user, first seen)
        self.images: dict[str, Image] = {}
        self.uploads: dict[str, str] = {}  # upload id -> image urn
        self.posts: dict[str, LinkedInPost] = {}
        self.posts_of: dict[str, list[str]] = defaultdict(list)
        self.sequence = 0

    def token(self, raw: str, now: float) -> Token:
        found = self.tokens.get(raw)
        if found is None:
            user = raw.split(".", 1)[0] if "." in raw else "sandbox"
            found = Token(raw, user or "sandbox", now, now + TOKEN_SECONDS)
            self.tokens[raw] = found
        return found

    def next_number(self, now: float) -> int:
        self.sequence += 1
        return (int(now * 1000) << 22) + self.sequence % (1 << 22)


# --------------------------------------------------------------------------- requests


class LinkedInError(Exception):
    """An error answer: ``{status, serviceErrorCode?, code?, message}``, or with ``input_errors``
    the validation shape ``{errorDetailType, message, errorDetails: {inputErrors}, status}``."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 service_code: int | None = None, *, input_errors: list[dict[str, Any]] | None = None,
                 detail_type: str = "com.linkedin.common.error.BadRequest") -> None:  # fmt: skip
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.service_code = service_code
        self.input_errors = input_errors
        self.detail_type = detail_type

    def response(self, headers: dict[str, str] | None = None) -> Response:
        if self.input_errors is not None:
            shaped = {"errorDetailType": self.detail_type, "message": self.message,
                      "errorDetails": {"inputErrors": self.input_errors}, "status": self.status}  # fmt: skip
            return Response(json_bytes(shaped), status_code=self.status, headers=headers,
                            media_type="application/json")  # fmt: skip
        body: dict[str, Any] = {"status": self.status}
        if self.service_code is not None:
            body["serviceErrorCode"] = self.service_code
        if self.code is not None:
            body["code"] = self.code
        body["message"] = self.message
        return Response(json_bytes(body), status_code=self.status, headers=headers,
                        media_type="application/json")  # fmt: skip


class _Injected(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("fault injected")
        self.response = response


@dataclass(slots=True)
class Call:
    request: Request
    sandbox: Sandbox
    store: Store
    state: LinkedInState
    now: float
    token: Token | None
    base: str
    headers: dict[str, str] = field(default_factory=dict)
    hold_seconds: float = 0.0
    pending_hold: float = 0.0

    @property
    def person_urn(self) -> str:
        assert self.token is not None
        return f"urn:li:person:{person_id(self.token.user)}"

    def json(self, payload: Any, status: int = 200) -> Response:
        return Response(json_bytes(payload), status_code=status, headers=self.headers,
                        media_type="application/json")  # fmt: skip

    def commit(self) -> None:
        self.hold_seconds = self.pending_hold


def _unauthorized(code: str, service_code: int, message: str) -> LinkedInError:
    return LinkedInError(401, message, code, service_code)


def _check_token(store: Store, state: LinkedInState, request: Request, now: float) -> Token:
    header = request.headers.get("authorization", "")
    scheme, _, raw = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise _unauthorized("EMPTY_ACCESS_TOKEN", 65604, "Empty oauth2 access token")
    raw = raw.strip()
    if any(c.isspace() for c in raw):
        raise _unauthorized("INVALID_ACCESS_TOKEN", 65600, "Invalid access token")
    if raw.startswith("revoked") or store.is_revoked(PLATFORM, raw):
        raise _unauthorized(
            "REVOKED_ACCESS_TOKEN", 65601, "The token used in the request has been revoked by the user"
        )
    token = state.token(raw, now)
    if raw.startswith("expired") or token.expires_at <= now or raw in store.expired.get(PLATFORM, ()):
        raise _unauthorized(
            "EXPIRED_ACCESS_TOKEN", 65602, "The token used in the request has expired"
        )
    return token


def _access_denied(what: str) -> LinkedInError:
    return LinkedInError(403, f"Not enough permissions to access: {what}", "ACCESS_DENIED", 100)


def _throttle(window: int) -> LinkedInError:
    scope = "DAY" if window >= 86_400 else "MINUTE"
    return LinkedInError(
        429,
        f"Resource level throttle APPLICATION {scope} limit for calls to this resource is reached.",
        "TOO_MANY_REQUESTS",
    )


async def _fault(call: Call, account: str) -> None:
    decision = call.sandbox.faults.decide(PLATFORM, account)
    if decision is None:
        return
    if decision.latency > 0:
        await asyncio.sleep(decision.latency)
    kind = decision.kind
    if kind == "ok":
        return
    call.sandbox.fault_injected(PLATFORM, kind)
    log.debug("fault_injected", platform=PLATFORM, kind=kind, account=account)
    if kind == "timeout_after_commit":
        call.pending_hold = decision.timeout_seconds
        return
    if kind == "timeout":
        await asyncio.sleep(decision.timeout_seconds)
        raise _Injected(nginx_error_page(504))
    if kind == "429":
        # LinkedIn sends no Retry-After or rate-limit headers (…/api-guide/concepts/rate-limits).
        raise LinkedInError(429, "Too Many Requests", "TOO_MANY_REQUESTS")
    if kind == "500":
        raise LinkedInError(500, "Internal Server Error")
    if kind == "503":
        raise LinkedInError(503, "Service Unavailable")
    if kind in ERROR_CODES:
        raise _Injected(nginx_error_page(int(kind)))
    raise _Injected(nginx_error_page(502))


Handler = Callable[[Call], Awaitable[Response]]


def api(versioned: bool = True, auth: bool = True):  # noqa: ANN201 - decorator
    def wrap(handler: Handler):  # noqa: ANN202
        async def endpoint(request: Request) -> Response:
            sandbox = sandbox_of(request)
            store = sandbox.store
            state: LinkedInState = store.state_of(PLATFORM, LinkedInState)
            now = store.now()
            url = request.url
            base = f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}"
            headers = {"x-li-uuid": secrets.token_urlsafe(16), "x-restli-protocol-version": "2.0.0"}
            try:
                token = _check_token(store, state, request, now) if auth else None
                if versioned:
                    version = request.headers.get("linkedin-version")
                    if not version:
                        raise LinkedInError(
                            400, "A version must be present. Please specify a version by adding "
                            "the LinkedIn-Version header.", "VERSION_MISSING",
                        )  # fmt: skip
                    if not _VERSION_RE.match(version):
                        raise LinkedInError(
                            426, f"Requested version {version} is not active",
                            "NONEXISTENT_VERSION",
                        )  # fmt: skip
                call = Call(request=request, sandbox=sandbox, store=store, state=state, now=now,
                            token=token, base=base, headers=headers)  # fmt: skip
                if token is not None:
                    limit = store.limit_for(PLATFORM, "calls")
                    if limit is not None:
                        key = (PLATFORM, "calls", token.token)
                        count, _ = store.windows.hit(key, limit, now)
                        if count > limit.limit:
                            store.windows.undo(key)
                            sandbox.metrics.rate_limited.labels(PLATFORM).inc()
                            raise _throttle(limit.window_seconds)
                response = await handler(call)
            except LinkedInError as exc:
                return exc.response(headers)
            except _Injected as injected:
                return injected.response
            if call.hold_seconds > 0:
                await asyncio.sleep(call.hold_seconds)
            return response

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap


async def _json_body(call: Call) -> dict[str, Any]:
    raw = await call.request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise LinkedInError(400, "Unable to parse the request body as JSON", "BAD_REQUEST")
    return body


def _check_author(call: Call, urn: Any, what: str) -> str:
    if not isinstance(urn, str):
        raise LinkedInError(
            422, f"ERROR :: /{what} :: is required", "UNPROCESSABLE_ENTITY", 100
        )
    if call.token is not None and call.token.token.startswith("noperm"):
        raise _access_denied("partnerApiPostsExternal.CREATE.20250101")
    org = _ORG_RE.match(urn)
    if org:
        if org.group(1).startswith("0"):
            raise LinkedInError(404, f"Organization {urn} does not exist", "NOT_FOUND")
        return urn
    if _PERSON_RE.match(urn):
        if urn != call.person_urn:
            raise _access_denied(f"{what} {urn} (the token belongs to {call.person_urn})")
        return urn
    raise LinkedInError(
        422, f"ERROR :: /{what} :: {urn!r} is not a person or organization URN",
        "UNPROCESSABLE_ENTITY", 100,
    )  # fmt: skip


def _image_status(call: Call, image: Image) -> str:
    if image.uploaded_at is None:
        return "WAITING_UPLOAD"
    if image.mime is None or not image.mime.startswith("image/"):
        return "PROCESSING_FAILED"
    return "PROCESSING" if call.now < image.ready_at else "AVAILABLE"


def _image_json(call: Call, image: Image) -> dict[str, Any]:
    body: dict[str, Any] = {"owner": image.owner, "id": image.urn,
                            "status": _image_status(call, image)}  # fmt: skip
    if body["status"] == "AVAILABLE":
        body["downloadUrl"] = f"https://media.licdn.com/dms/image/{image.upload_id}"
        body["downloadUrlExpiresAt"] = int((call.now + 3600) * 1000)
    return body


def _post_json(post: LinkedInPost) -> dict[str, Any]:
    ms = int(post.created * 1000)
    return {**post.body, "id": post.urn, "createdAt": ms, "publishedAt": ms,
            "lastModifiedAt": ms}  # fmt: skip


def _urn_param(call: Call, name: str) -> str:
    return unquote(call.request.path_params[name])


# --------------------------------------------------------------------------- endpoints


@api(versioned=False)
async def userinfo(call: Call) -> Response:
    assert call.token is not None
    user = call.token.user
    given = user.replace("_", " ").title()
    return call.json({
        "sub": person_id(user), "email_verified": True, "name": f"{given} Library",
        "locale": {"country": "ID", "language": "id"}, "given_name": given,
        "family_name": "Library", "picture": f"https://media.licdn.com/dms/image/{user}.jpg",
    })  # fmt: skip


@api()
async def organization(call: Call) -> Response:
    org = call.request.path_params["id"]
    if not org.isdigit() or org.startswith("0"):
        raise LinkedInError(404, f"Organization {org} does not exist", "NOT_FOUND")
    vanity = f"perpustakaan-{org[-4:]}"
    return call.json({
        "id": int(org), "localizedName": f"Perpustakaan {org[-4:]}", "vanityName": vanity,
        "localizedWebsite": f"https://{vanity}.example", "primaryOrganizationType": "NONE",
        "organizationType": "GOVERNMENT_AGENCY",
    })  # fmt: skip


@api()
async def images(call: Call) -> Response:
    if call.request.query_params.get("action") != "initializeUpload":
        raise LinkedInError(400, "Unsupported action; use action=initializeUpload", "BAD_REQUEST")
    body = await _json_body(call)
    request = body.get("initializeUploadRequest")
    owner = _check_author(call, (request or {}).get("owner"), "initializeUploadRequest/owner")
    await _fault(call, owner)
    state = call.state
    number = state.next_number(call.now)
    upload_id = secrets.token_urlsafe(18)
    urn = f"urn:li:image:C4D22AQ{person_id(str(number))}{number % 10**6:06d}"
    state.images[urn] = Image(urn=urn, owner=owner, upload_id=upload_id, created=call.now)
    state.uploads[upload_id] = urn
    call.commit()
    return call.json({"value": {
        "uploadUrlExpiresAt": int((call.now + 86_400) * 1000),
        "uploadUrl": f"{call.base}/dms-uploads/{upload_id}?ca=vector_feedshare&cn=uploads",
        "image": urn,
    }})  # fmt: skip


@api(versioned=False)
async def upload(call: Call) -> Response:
    state = call.state
    urn = state.uploads.get(call.request.path_params["upload_id"])
    if urn is None:
        raise LinkedInError(404, "Upload not found", "NOT_FOUND")
    image = state.images[urn]
    await _fault(call, image.owner)
    data = await call.request.body()
    if not data:
        raise LinkedInError(400, "The upload is empty", "BAD_REQUEST")
    image.uploaded_at = call.now
    image.mime = sniff_mime(data[:64]) or "application/octet-stream"
    image.ready_at = call.now + state.settings.meta_image_processing_seconds
    call.commit()
    return Response(b"", status_code=201, headers=call.headers)


@api()
async def image(call: Call) -> Response:
    found = call.state.images.get(_urn_param(call, "urn"))
    if found is None:
        raise LinkedInError(404, "Image not found", "NOT_FOUND")
    return call.json(_image_json(call, found))


def _content_images(call: Call, body: dict[str, Any], author: str) -> list[str]:
    content = body.get("content")
    if content is None:
        return []
    if not isinstance(content, dict):
        raise LinkedInError(422, "ERROR :: /content :: must be an object", "UNPROCESSABLE_ENTITY")
    urns: list[str] = []
    if "media" in content:
        media_id = (content.get("media") or {}).get("id")
        urns = [media_id] if isinstance(media_id, str) else []
        if not urns:
            raise LinkedInError(
                422, "ERROR :: /content/media/id :: is required", "UNPROCESSABLE_ENTITY"
            )
    elif "multiImage" in content:
        entries = (content.get("multiImage") or {}).get("images") or []
        urns = [e.get("id") for e in entries if isinstance(e, dict)]
        if not MULTI_IMAGE_MIN <= len(urns) <= MULTI_IMAGE_MAX:
            raise LinkedInError(
                422, f"ERROR :: /content/multiImage/images :: takes {MULTI_IMAGE_MIN} to "
                f"{MULTI_IMAGE_MAX} images", "UNPROCESSABLE_ENTITY",
            )  # fmt: skip
    for urn in urns:
        if not isinstance(urn, str) or not urn.startswith("urn:li:image:"):
            continue  # videos, documents and articles are accepted as given
        found = call.state.images.get(urn)
        if found is None or found.owner != author:
            raise LinkedInError(
                422, f"ERROR :: /content :: {urn} does not exist or is not owned by {author}",
                "UNPROCESSABLE_ENTITY",
            )  # fmt: skip
        status = _image_status(call, found)
        if status != "AVAILABLE":
            raise LinkedInError(
                422, f"ERROR :: /content :: {urn} is {status}, not AVAILABLE",
                "UNPROCESSABLE_ENTITY",
            )  # fmt: skip
    return [u for u in urns if isinstance(u, str)]


@api()
async def posts(call: Call) -> Response:
    if call.request.method == "GET":
        return await _find_posts(call)
    body = await _json_body(call)
    author = _check_author(call, body.get("author"), "author")
    await _fault(call, author)
    commentary = body.get("commentary", "")
    if not isinstance(commentary, str):
        raise LinkedInError(422, "ERROR :: /commentary :: must be a string", "UNPROCESSABLE_ENTITY")
    if len(commentary) > COMMENTARY_LIMIT:
        raise LinkedInError(
            422, "Field Value validation failed in REQUEST_BODY: Data Processing Exception while "
            "processing fields [/commentary]", "UNPROCESSABLE_ENTITY", 100,
        )  # fmt: skip
    if body.get("visibility") not in ("PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER"):
        raise LinkedInError(
            422, "ERROR :: /visibility :: must be PUBLIC, CONNECTIONS, LOGGED_IN or CONTAINER",
            "UNPROCESSABLE_ENTITY",
        )  # fmt: skip
    distribution = body.get("distribution")
    if not isinstance(distribution, dict) or distribution.get("feedDistribution") not in (
        "MAIN_FEED", "NONE",
    ):  # fmt: skip
        raise LinkedInError(
            422, "ERROR :: /distribution/feedDistribution :: must be MAIN_FEED or NONE",
            "UNPROCESSABLE_ENTITY",
        )  # fmt: skip
    lifecycle = body.get("lifecycleState")
    if lifecycle not in ("PUBLISHED", "DRAFT"):
        raise LinkedInError(
            422, "ERROR :: /lifecycleState :: must be PUBLISHED or DRAFT", "UNPROCESSABLE_ENTITY"
        )
    images = _content_images(call, body, author)
    if not commentary.strip() and not images and "content" not in body:
        raise LinkedInError(
            422, "ERROR :: /commentary :: a post needs commentary or content",
            "UNPROCESSABLE_ENTITY",
        )  # fmt: skip
    state = call.state
    candidate = LinkedInPost(urn="", author=author, commentary=commentary, body=body,
                             created=call.now, images=images)  # fmt: skip
    for urn in reversed(state.posts_of.get(author, [])):
        earlier = state.posts[urn]
        if call.now - earlier.created > DUPLICATE_WINDOW:
            break
        if earlier.content_key() == candidate.content_key():
            raise LinkedInError(
                422, "com.linkedin.content.common.exception.BadRequestResponseException: "
                f"Content is a duplicate of {urn}",
                input_errors=[{"description": "Duplicate post is detected", "input": {}, "code": "DUPLICATE_POST"}],
            )  # fmt: skip
    daily = call.store.limit_for(PLATFORM, "posts")
    if daily is not None and lifecycle == "PUBLISHED":
        key = (PLATFORM, "posts", author)
        used, _ = call.store.windows.count(key, daily, call.now)
        if used >= daily.limit:
            call.sandbox.metrics.rate_limited.labels(PLATFORM).inc()
            scope = "MEMBER" if author.startswith("urn:li:person:") else "ORGANIZATION"
            window = "DAY" if daily.window_seconds >= 86_400 else "MINUTE"
            raise LinkedInError(
                429, f"Resource level throttle {scope} {window} limit for calls to this resource "
                "is reached.", "TOO_MANY_REQUESTS",
            )  # fmt: skip
        call.store.windows.hit(key, daily, call.now)
    candidate.urn = f"urn:li:share:{state.next_number(call.now)}"
    state.posts[candidate.urn] = candidate
    state.posts_of[author].append(candidate.urn)
    if lifecycle == "PUBLISHED":
        media = []
        for urn in images:
            found = state.images.get(urn)
            media.append({"type": "image", "id": urn, "mime_type": found.mime if found else None})
        call.store.record_post(
            Post(
                platform=PLATFORM, account=author, id=candidate.urn, text=unescape(commentary),
                media=media, idempotency_key=None, received_at=call.now,
                url=f"https://www.linkedin.com/feed/update/{candidate.urn}",
            )
        )  # fmt: skip
        call.sandbox.metrics.posts_accepted.labels(PLATFORM).inc()
    call.commit()
    call.headers["x-restli-id"] = candidate.urn
    call.headers["x-linkedin-id"] = candidate.urn
    return Response(b"", status_code=201, headers=call.headers)


async def _find_posts(call: Call) -> Response:
    params = call.request.query_params
    if params.get("q") != "author" or not params.get("author"):
        raise LinkedInError(400, "Use the author finder: q=author&author={urn}", "BAD_REQUEST")
    author = unquote(params["author"])
    try:
        start = max(0, int(params.get("start", "0")))
        count = max(1, min(100, int(params.get("count", "10"))))
    except ValueError:
        raise LinkedInError(400, "start and count must be integers", "BAD_REQUEST") from None
    urns = list(reversed(call.state.posts_of.get(author, [])))
    elements = [_post_json(call.state.posts[u]) for u in urns[start : start + count]]
    return call.json({
        "paging": {"start": start, "count": count, "links": [], "total": len(urns)},
        "elements": elements,
    })  # fmt: skip


@api()
async def post(call: Call) -> Response:
    found = call.state.posts.get(_urn_param(call, "urn"))
    if found is None:
        raise LinkedInError(404, "Not Found", "NOT_FOUND")
    return call.json(_post_json(found))


def _list_param(raw: str | None) -> list[str]:
    if not raw:
        return []
    text = unquote(raw)
    if text.startswith("List(") and text.endswith(")"):
        text = text[5:-1]
    return [u.strip() for u in text.split(",") if u.strip()]


@api()
async def share_statistics_endpoint(call: Call) -> Response:
    params = call.request.query_params
    org = unquote(params.get("organizationalEntity", ""))
    if params.get("q") != "organizationalEntity" or not _ORG_RE.match(org):
        raise LinkedInError(
            400, "Use q=organizationalEntity&organizationalEntity=urn:li:organization:{id}",
            "BAD_REQUEST",
        )  # fmt: skip
    state = call.state
    wanted = [("share", u) for u in _list_param(params.get("shares"))]
    wanted += [("ugcPost", u) for u in _list_param(params.get("ugcPosts"))]
    elements = []
    if not wanted:
        totals: dict[str, Any] = defaultdict(int)
        for urn in state.posts_of.get(org, []):
            found = state.posts[urn]
            for key, value in share_statistics(urn, call.now - found.created).items():
                if key != "engagement":
                    totals[key] += value
        clicks = totals["clickCount"] + totals["likeCount"] + totals["commentCount"]
        impressions = totals["impressionCount"]
        totals["engagement"] = (clicks + totals["shareCount"]) / impressions if impressions else 0.0
        elements.append({"totalShareStatistics": dict(totals), "organizationalEntity": org})
    for kind, urn in wanted:
        found = state.posts.get(urn)
        if found is None or found.author != org:
            raise LinkedInError(
                400, f"{urn} is not a post of {org}", "BAD_REQUEST"
            )
        elements.append({
            "totalShareStatistics": share_statistics(urn, max(0.0, call.now - found.created)),
            kind: urn, "organizationalEntity": org,
        })  # fmt: skip
    return call.json({"paging": {"start": 0, "count": 10, "links": []}, "elements": elements})


@api()
async def network_size(call: Call) -> Response:
    urn = _urn_param(call, "urn")
    if call.request.query_params.get("edgeType") != "COMPANY_FOLLOWED_BY_MEMBER":
        raise LinkedInError(400, "edgeType must be COMPANY_FOLLOWED_BY_MEMBER", "BAD_REQUEST")
    match = _ORG_RE.match(urn)
    if not match:
        raise LinkedInError(400, f"{urn} is not an organization URN", "BAD_REQUEST")
    if match.group(1).startswith("0"):
        raise LinkedInError(404, f"Organization {urn} does not exist", "NOT_FOUND")
    posts = len(call.state.posts_of.get(urn, ()))
    return call.json({"firstDegreeSize": follower_count(urn, posts)})


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response(json_bytes({"error": error, "error_description": description}),
                    status_code=status, media_type="application/json")  # fmt: skip


async def access_token(request: Request) -> Response:
    """``POST /oauth/v2/accessToken`` with ``grant_type=refresh_token``."""
    sandbox = sandbox_of(request)
    store = sandbox.store
    state: LinkedInState = store.state_of(PLATFORM, LinkedInState)
    now = store.now()
    form = await request.form()
    if form.get("grant_type") != "refresh_token":
        return _oauth_error(400, "unsupported_grant_type", "Only grant_type=refresh_token is "
                            "supported by the sandbox")  # fmt: skip
    if not form.get("client_id") or not form.get("client_secret"):
        return _oauth_error(401, "invalid_client", "Client authentication failed")
    refresh = str(form.get("refresh_token") or "")
    if not refresh:
        return _oauth_error(400, "invalid_request", "A required parameter \"refresh_token\" is missing")
    if refresh.startswith(("revoked", "expired")) or store.is_revoked(PLATFORM, refresh):
        return _oauth_error(
            400, "invalid_grant",
            "The provided authorization grant or refresh token is invalid, expired or revoked.",
        )  # fmt: skip
    user, first_seen = state.refresh_tokens.setdefault(
        refresh, (refresh.split(".", 1)[0] if "." in refresh else "sandbox", now)
    )
    remaining = first_seen + REFRESH_TOKEN_SECONDS - now
    if remaining <= 0:
        return _oauth_error(400, "invalid_grant", "The refresh token has expired.")
    state.sequence += 1
    token = f"{user}.lr{state.sequence}{secrets.token_hex(8)}"
    state.tokens[token] = Token(token, user, now, now + TOKEN_SECONDS)
    return Response(json_bytes({
        "access_token": token, "expires_in": TOKEN_SECONDS, "refresh_token": refresh,
        "refresh_token_expires_in": int(remaining), "scope": "w_member_social,w_organization_social",
    }), media_type="application/json")  # fmt: skip


async def introspect(request: Request) -> Response:
    """``POST /oauth/v2/introspectToken``: whether a token is active and when it ends."""
    store = sandbox_of(request).store
    state: LinkedInState = store.state_of(PLATFORM, LinkedInState)
    now = store.now()
    form = await request.form()
    if not form.get("client_id") or not form.get("client_secret"):
        return _oauth_error(401, "invalid_client", "Client authentication failed")
    raw = str(form.get("token") or "")
    if not raw or raw.startswith(("revoked", "expired")) or store.is_revoked(PLATFORM, raw):
        return Response(json_bytes({"active": False}), media_type="application/json")
    token = state.token(raw, now)
    if token.expires_at <= now:
        return Response(json_bytes({"active": False}), media_type="application/json")
    return Response(json_bytes({
        "active": True, "client_id": str(form.get("client_id")),
        "authorized_at": int(token.issued_at), "created_at": int(token.issued_at),
        "status": "active", "expires_at": int(token.expires_at),
        "scope": "w_member_social,w_organization_social,r_organization_social",
        "auth_type": "3L",
    }), media_type="application/json")  # fmt: skip


async def not_found(request: Request) -> Response:
    return LinkedInError(404, f"No resource {request.url.path}", "NOT_FOUND").response()


routes = [
    Route("/v2/userinfo", userinfo, methods=["GET"]),
    Route("/rest/organizations/{id}", organization, methods=["GET"]),
    Route("/rest/images", images, methods=["POST"]),
    Route("/rest/images/{urn:path}", image, methods=["GET"]),
    Route("/dms-uploads/{upload_id}", upload, methods=["PUT", "POST"]),
    Route("/rest/posts", posts, methods=["GET", "POST"]),
    Route("/rest/posts/{urn:path}", post, methods=["GET"]),
    Route(
        "/rest/organizationalEntityShareStatistics", share_statistics_endpoint, methods=["GET"]
    ),
    Route("/rest/networkSizes/{urn:path}", network_size, methods=["GET"]),
    Route("/oauth/v2/accessToken", access_token, methods=["POST"]),
    Route("/oauth/v2/introspectToken", introspect, methods=["POST"]),
    Route("/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
]

"""An imitation of the X (Twitter) API v2, mounted under ``/x`` (the real host is ``api.x.com``).

Endpoints: ``GET /2/users/me``, ``GET /2/users/:id/tweets``, ``GET /2/tweets/:id``,
``POST /2/tweets``, the chunked media upload (``POST /2/media/upload/initialize``,
``/2/media/upload/:id/append``, ``/2/media/upload/:id/finalize``, ``GET /2/media/upload?
command=STATUS``), ``POST /2/media/metadata`` (alt text) and ``POST /2/oauth2/token`` (refresh).

Tokens: any bearer token is an OAuth 2.0 user token of the account named by its part before the
first ``.`` (``library.abc`` -> ``@library``); it lives 2 hours from when it is first seen or
issued. A token starting with ``revoked``, revoked or expired through the control API gets 401;
one starting with ``readonly`` lacks ``tweet.write`` (403 on writes); an account whose name starts
with ``premium`` has X Premium (25,000 characters); one starting with ``freetier`` belongs to an
app on X's Free tier, which may post but not read timelines or tweets (403 "Client Forbidden",
``client-not-enrolled``). Refresh tokens rotate: each one works once.

Wire formats: problem JSON (``title``, ``type``, ``detail``, ``status``) for 401/403/400,
``{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`` for 429, ``x-rate-limit-limit /
-remaining / -reset`` (epoch seconds) on every answer; ``x-user-limit-24hour-*`` and
``x-app-limit-24hour-*`` on POST /2/tweets when the user's (``user_24h``) or the whole app's
(``app_24h``) 24-hour posting cap is configured, a 429 once either is used up; a duplicate text is 403 "You are not allowed to create a Tweet with
duplicate content." A tweet's ``text`` comes back with its links replaced by ``t.co`` links and
``&``, ``<``, ``>`` escaped, with ``entities.urls`` mapping them back, as X answers. A long post
(X Premium, over 280 weighted characters) comes back as X returns one: ``text`` cut short (at
most 270 weighted characters, at a space, never inside a link) and, when ``tweet.fields``
asks for ``note_tweet``, the whole text in ``note_tweet.text`` with its own ``entities.urls``.

Video and GIF uploads are processed for ``media_processing_seconds`` (``processing_info``:
pending -> in_progress -> succeeded, or failed when the bytes are not a video). Tweets'
``public_metrics`` grow with the time since they were posted (``PUT /_sandbox/clock`` ages them).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import math
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from siar_platforms import url_spans, x_weighted_length
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .apikit import (
    DroppedConnection,
    Fault,
    TokenBook,
    audience,
    bearer,
    decide,
    digest_id,
    grown,
    held,
    identity,
)
from .context import Sandbox, sandbox_of
from .mediainfo import image_size, sniff_mime, video_size
from .responses import json_bytes, nginx_error_page
from .store import Limit, Post, Store, stable_number

PLATFORM = "x"
JSON = "application/json; charset=utf-8"
TOKEN_SECONDS = 7_200
TWITTER_EPOCH_MS = 1_288_834_974_657
DUPLICATE_WINDOW = 86_400
MAX_WEIGHT = 280
PREVIEW_WEIGHT = 270  # what ``text`` keeps of a long post (the whole text is in ``note_tweet``)
PREMIUM_MAX_WEIGHT = 25_000
MEDIA_EXPIRES = 86_400
SEGMENT_LIMIT = 5 * 1024 * 1024
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/bmp", "image/pjpeg", "image/tiff"}
LIMITS = {"tweet_image": 5 * 1024 * 1024, "tweet_gif": 15 * 1024 * 1024,
          "tweet_video": 512 * 1024 * 1024, "amplify_video": 512 * 1024 * 1024}  # fmt: skip
MEDIA_KEY_PREFIX = {"tweet_image": "3", "tweet_gif": "16", "tweet_video": "7", "amplify_video": "13"}
INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"

APP_CAP_KEY = (PLATFORM, "app_24h", "app")  # one app: every sandbox token belongs to it
FREE_TIER = "freetier"

log = structlog.get_logger("siar_sandbox.x")



# --------------------------------------------------------------------------- state


@dataclass(slots=True)
class XUser:
    id: str
    username: str
    created_at: float
    premium: bool
    tweet_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class XMedia:
    id: str
    key: str
    owner: str
    media_type: str
    category: str
    total_bytes: int
    created_at: float
    segments: dict[int, bytes] = field(default_factory=dict)
    finalized_at: float | None = None
    ready_at: float | None = None
    error: str | None = None
    mime: str | None = None
    width: int | None = None
    height: int | None = None
    alt_text: str | None = None
    used: bool = False


@dataclass(slots=True)
class XTweet:
    id: str
    author: str
    text: str
    shown: str
    urls: list[dict[str, Any]]
    media_keys: list[str]
    created_at: float
    note: tuple[str, list[dict[str, Any]]] | None = None  # a long post: the whole text, shown, and its urls


class XState:
    def __init__(self, settings: Any) -> None:
        self.processing_seconds = float(settings.media_processing_seconds)
        self.users: dict[str, XUser] = {}
        self.users_by_id: dict[str, XUser] = {}
        self.tweets: dict[str, XTweet] = {}
        self.media: dict[str, XMedia] = {}
        self.tokens = TokenBook(TOKEN_SECONDS)
        self.last_id = 0

    def user(self, username: str) -> XUser:
        found = self.users.get(username)
        if found is None:
            user_id = str(10**18 + stable_number("x:" + username, 9 * 10**17))
            found = XUser(user_id, username, 1_704_067_200.0, username.startswith("premium"))
            self.users[username] = found
            self.users_by_id[user_id] = found
        return found

    def next_id(self, now: float) -> str:
        candidate = (int(now * 1000) - TWITTER_EPOCH_MS) << 22
        if candidate <= self.last_id:
            candidate = self.last_id + 1
        self.last_id = candidate
        return str(candidate)


def state_of(sandbox: Sandbox) -> XState:
    return sandbox.store.state_of(PLATFORM, XState)


# --------------------------------------------------------------------------- request context


@dataclass(slots=True)
class Api:
    request: Request
    sandbox: Sandbox
    state: XState
    store: Store
    now: float
    token: str
    user: XUser
    headers: dict[str, str] = field(default_factory=dict)

    def json(self, payload: Any, status: int = 200) -> Response:
        return Response(json_bytes(payload), status_code=status, headers=self.headers,
                        media_type=JSON)  # fmt: skip

    def problem(self, status: int, title: str, detail: str, type_: str = "about:blank",
                **extra: Any) -> Response:  # fmt: skip
        body: dict[str, Any] = {"title": title, "type": type_, "status": status, "detail": detail}
        body.update(extra)
        return self.json(body, status)

    def invalid(self, parameter: str, value: Any, message: str) -> Response:
        body = {
            "errors": [{"parameters": {parameter: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": INVALID_REQUEST,
        }
        return self.json(body, 400)


def _problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None,
             type_: str = "about:blank") -> Response:  # fmt: skip
    body = {"title": title, "type": type_, "status": status, "detail": detail}
    return Response(json_bytes(body), status_code=status, headers=headers, media_type=JSON)


def _rate_headers(limit: Limit, used: int, reset_at: float) -> dict[str, str]:
    return {
        "x-rate-limit-limit": str(limit.limit),
        "x-rate-limit-remaining": str(max(0, limit.limit - used)),
        "x-rate-limit-reset": str(int(math.ceil(reset_at))),
    }


def _too_many(headers: dict[str, str]) -> Response:
    body = {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}
    return Response(json_bytes(body), status_code=429, headers=headers, media_type=JSON)


def api(write: bool = False, scope: str | None = None):  # noqa: ANN201 - decorator
    """Authenticate (OAuth 2.0 user context) and count the request in its rate window.
    ``scope`` names a configured limit (``user`` for POST /2/tweets); other endpoints are
    counted in a window of their own with the sandbox's default (high) limit."""

    def wrap(handler):  # noqa: ANN001, ANN202
        async def endpoint(request: Request) -> Response:
            sandbox = sandbox_of(request)
            store = sandbox.store
            state = state_of(sandbox)
            now = store.now()
            token = bearer(request)
            status = state.tokens.state(store, PLATFORM, token)
            if status != "ok":
                return _problem(401, "Unauthorized", "Unauthorized")
            assert token is not None
            user = state.user(identity(token))
            limit = store.limit_for(PLATFORM, scope) if scope else store.default_limit
            assert limit is not None
            key = (PLATFORM, scope or f"endpoint {handler.__name__}", user.id)
            used, reset_at = store.windows.hit(key, limit, now)
            headers = _rate_headers(limit, used, reset_at)
            if used > limit.limit:
                store.windows.undo(key)
                sandbox.metrics.rate_limited.labels(PLATFORM).inc()
                return _too_many(headers)
            if write and token.startswith("readonly"):
                return _problem(
                    403, "Forbidden",
                    "You are not permitted to perform this action. The token lacks the tweet.write scope.",
                    headers,
                )  # fmt: skip
            ctx = Api(request, sandbox, state, store, now, token, user, headers)
            return await handler(ctx)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


def _fault_response(ctx: Api, fault: Fault) -> Response | None:
    """The injected error for a fault, or None to go on (``ok``, ``timeout_after_commit``)."""
    kind = fault.kind
    if kind in ("ok", "timeout_after_commit"):
        return None
    if kind == "interrupt":
        return DroppedConnection()
    if kind == "timeout":
        return nginx_error_page(504)
    if kind == "429":
        limit = ctx.store.limit_for(PLATFORM, "user") or ctx.store.default_limit
        headers = dict(ctx.headers)
        headers.update(_rate_headers(limit, limit.limit, ctx.now + fault.retry_after))
        return _too_many(headers)
    if kind == "500":
        return ctx.problem(500, "Internal Server Error", "Internal Server Error")
    if kind == "503":
        return ctx.problem(503, "Service Unavailable", "Service Unavailable")
    return nginx_error_page(int(kind))


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise _BadJson from None


class _BadJson(Exception):
    pass


# --------------------------------------------------------------------------- text


def weighted_length(text: str) -> int:
    """X's count against 280: twitter-text v3 (platforms.md, X): code points 0-4351 and some
    punctuation ranges weigh 1, others 2; every URL 23, with or without ``https://`` (a bare
    ``perpusnas.go.id/koleksi`` too); every emoji 2, a flag or a ZWJ family included; NFC first.
    The same count Siar checks before sending (siar_platforms.x_weighted_length)."""
    return x_weighted_length(text)


def _shorten(text: str, tweet_id: str) -> tuple[str, list[dict[str, Any]]]:
    """The text as X shows it: links replaced by t.co links, ``& < >`` escaped; and
    ``entities.urls`` with start/end in code points of the shown text."""
    shown: list[str] = []
    urls: list[dict[str, Any]] = []
    pos = 0
    length = 0
    for n, (start, end) in enumerate(url_spans(text)):
        url = text[start:end]
        before = html.escape(text[pos:start], quote=False)
        shown.append(before)
        length += len(before)
        short = "https://t.co/" + digest_id(f"{tweet_id}:{n}:{url}", 10)
        expanded = url if "://" in url else "http://" + url
        display = re.sub(r"(?i)^https?://(www\.)?", "", url)
        urls.append({"start": length, "end": length + len(short), "url": short,
                     "expanded_url": expanded,
                     "display_url": display if len(display) <= 26 else display[:25] + "…"})  # fmt: skip
        shown.append(short)
        length += len(short)
        pos = end
    shown.append(html.escape(text[pos:], quote=False))
    return "".join(shown), urls


def _preview(text: str) -> str:
    """What ``text`` keeps of a long post: the longest start of it that weighs at most
    ``PREVIEW_WEIGHT``, ending at a space when there is one and never inside a link (X cuts a
    long post's ``text`` at a word, with no ellipsis; xdevplatform/twitter-api-java-sdk#84)."""
    spans = url_spans(text)
    best = at_space = 0
    for end in range(1, len(text) + 1):
        if any(start < end < stop for start, stop in spans):
            continue
        if weighted_length(text[:end]) > PREVIEW_WEIGHT:
            break
        best = end
        if end < len(text) and text[end].isspace():
            at_space = end
    return text[: at_space or best].rstrip()


# --------------------------------------------------------------------------- users and tweets


METRIC_SCALES = {
    "retweet_count": 8, "reply_count": 5, "like_count": 40, "quote_count": 2,
    "bookmark_count": 4, "impression_count": 2_000,
}  # fmt: skip


def public_metrics(tweet: XTweet, now: float) -> dict[str, int]:
    age = now - tweet.created_at
    return {name: grown(tweet.id, name, age, scale) for name, scale in METRIC_SCALES.items()}


def user_metrics(state: XState, user: XUser, now: float) -> dict[str, int]:
    age = now - user.created_at
    live = sum(1 for t in user.tweet_ids if t in state.tweets)
    return {
        "followers_count": audience("x:" + user.username, 1_200, age, 3),
        "following_count": 150 + stable_number("x-following:" + user.username, 400),
        "tweet_count": live,
        "listed_count": 5 + stable_number("x-listed:" + user.username, 40),
        "like_count": 20 + stable_number("x-likes:" + user.username, 900),
        "media_count": sum(1 for t in user.tweet_ids if t in state.tweets and state.tweets[t].media_keys),
    }


def _fields(request: Request, name: str) -> set[str]:
    raw = request.query_params.get(name, "")
    return {f.strip() for f in raw.split(",") if f.strip()}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def _tweet_json(state: XState, tweet: XTweet, fields: set[str], now: float) -> dict[str, Any]:
    body: dict[str, Any] = {"id": tweet.id, "text": tweet.shown, "edit_history_tweet_ids": [tweet.id]}
    if tweet.note is not None and "note_tweet" in fields:
        note_text, note_urls = tweet.note
        note: dict[str, Any] = {"text": note_text}
        if note_urls:
            note["entities"] = {"urls": [dict(u) for u in note_urls]}
        body["note_tweet"] = note
    if "created_at" in fields:
        body["created_at"] = _iso(tweet.created_at)
    if "author_id" in fields:
        body["author_id"] = state.users[tweet.author].id
    if "public_metrics" in fields:
        body["public_metrics"] = public_metrics(tweet, now)
    if "entities" in fields and tweet.urls:
        body["entities"] = {"urls": [dict(u) for u in tweet.urls]}
    if "attachments" in fields and tweet.media_keys:
        body["attachments"] = {"media_keys": list(tweet.media_keys)}
    return body


@api()
async def users_me(ctx: Api) -> Response:
    fault = await decide(ctx.sandbox, PLATFORM, ctx.user.username, read=True)
    injected = _fault_response(ctx, fault)
    if injected is not None:
        return injected
    user = ctx.user
    fields = _fields(ctx.request, "user.fields")
    body: dict[str, Any] = {"id": user.id, "name": user.username.replace("_", " ").title(),
                            "username": user.username}  # fmt: skip
    if "created_at" in fields:
        body["created_at"] = _iso(user.created_at)
    if "public_metrics" in fields:
        body["public_metrics"] = user_metrics(ctx.state, user, ctx.now)
    if "verified" in fields:
        body["verified"] = user.premium
    if "verified_type" in fields:
        body["verified_type"] = "blue" if user.premium else "none"
    if "subscription_type" in fields:
        body["subscription_type"] = "Premium" if user.premium else "None"
    if "description" in fields:
        body["description"] = "Akun sandbox Siar."
    if "protected" in fields:
        body["protected"] = False
    return await held(ctx.json({"data": body}), fault)


def _not_found(kind: str, value: str, parameter: str = "id") -> dict[str, Any]:
    return {
        "value": value,
        "detail": f"Could not find {kind} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": kind,
        "parameter": parameter,
        "resource_id": value,
        "type": NOT_FOUND,
    }


def _client_forbidden(ctx: Api) -> Response:
    """What X answers an app whose access level does not include the endpoint (the Free tier
    may post, delete and read /2/users/me, nothing else)."""
    return ctx.problem(
        403, "Client Forbidden",
        "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a "
        "Twitter developer App that is attached to a Project. You can create a project via the developer portal.",
        "https://api.twitter.com/2/problems/client-forbidden",
        registration_url="https://developer.twitter.com/en/docs/projects/overview",
        required_enrollment="Appropriate Level of API Access", reason="client-not-enrolled",
    )  # fmt: skip


@api()
async def user_tweets(ctx: Api) -> Response:
    """Newest first; ``max_results`` 5-100, ``start_time``/``end_time``, ``since_id``,
    ``until_id``, ``pagination_token``; deleted tweets are left out."""
    if ctx.token.startswith(FREE_TIER):
        return _client_forbidden(ctx)
    user_id = ctx.request.path_params["id"]
    user = ctx.state.users_by_id.get(user_id)
    if user is None:
        return ctx.json({"errors": [_not_found("user", user_id)]})
    q = ctx.request.query_params
    raw_max = q.get("max_results", "10")
    if not raw_max.isdigit() or not 5 <= int(raw_max) <= 100:
        return ctx.invalid("max_results", raw_max,
                           f"The `max_results` query parameter value [{raw_max}] is not between 5 and 100")  # fmt: skip
    limit = int(raw_max)
    bounds: dict[str, float] = {}
    for name in ("start_time", "end_time"):
        if q.get(name):
            try:
                bounds[name] = datetime.fromisoformat(q[name].replace("Z", "+00:00")).timestamp()
            except ValueError:
                return ctx.invalid(name, q[name], f"Invalid '{name}':'{q[name]}'. '{name}' must be a RFC 3339 date-time")
    since_id = int(q["since_id"]) if q.get("since_id", "").isdigit() else None
    until_id = int(q["until_id"]) if q.get("until_id", "").isdigit() else None
    token = q.get("pagination_token")
    below = int(token, 16) if token and re.fullmatch(r"[0-9a-f]+", token) else None
    fields = _fields(ctx.request, "tweet.fields")
    page: list[XTweet] = []
    more = False
    for tweet_id in reversed(user.tweet_ids):
        tweet = ctx.state.tweets.get(tweet_id)
        if tweet is None:
            continue
        number = int(tweet_id)
        if below is not None and number >= below:
            continue
        if until_id is not None and number >= until_id:
            continue
        if since_id is not None and number <= since_id:
            break
        if "start_time" in bounds and tweet.created_at < bounds["start_time"]:
            break
        if "end_time" in bounds and tweet.created_at > bounds["end_time"]:
            continue
        if len(page) >= limit:
            more = True
            break
        page.append(tweet)
    if not page:
        return ctx.json({"meta": {"result_count": 0}})
    meta: dict[str, Any] = {"result_count": len(page), "newest_id": page[0].id, "oldest_id": page[-1].id}
    if more:
        meta["next_token"] = format(int(page[-1].id), "x")
    return ctx.json({"data": [_tweet_json(ctx.state, t, fields, ctx.now) for t in page], "meta": meta})


@api()
async def show_tweet(ctx: Api) -> Response:
    if ctx.token.startswith(FREE_TIER):
        return _client_forbidden(ctx)
    fault = await decide(ctx.sandbox, PLATFORM, ctx.user.username, read=True)
    injected = _fault_response(ctx, fault)
    if injected is not None:
        return injected
    tweet_id = ctx.request.path_params["id"]
    tweet = ctx.state.tweets.get(tweet_id)
    if tweet is None:
        return ctx.json({"errors": [_not_found("tweet", tweet_id)]})
    fields = _fields(ctx.request, "tweet.fields")
    return await held(ctx.json({"data": _tweet_json(ctx.state, tweet, fields, ctx.now)}), fault)


@api(write=True)
async def delete_tweet(ctx: Api) -> Response:
    tweet = ctx.state.tweets.get(ctx.request.path_params["id"])
    if tweet is None or tweet.author != ctx.user.username:
        return ctx.json({"data": {"deleted": False}})
    del ctx.state.tweets[tweet.id]
    for post in reversed(ctx.store.posts):
        if post.platform == PLATFORM and post.id == tweet.id:
            post.deleted_at = ctx.now
            break
    return ctx.json({"data": {"deleted": True}})


@api(write=True, scope="user")
async def create_tweet(ctx: Api) -> Response:
    try:
        body = await _json_body(ctx.request)
    except _BadJson:
        return ctx.problem(400, "Invalid Request", "Request body is not valid JSON.", INVALID_REQUEST)
    if not isinstance(body, dict):
        return ctx.invalid("body", None, "The request body must be a JSON object")
    # The 24-hour posting cap of the user (x-user-limit-24hour-*), when one is configured.
    cap = ctx.store.limit_for(PLATFORM, "user_24h")
    cap_key = (PLATFORM, "user_24h", ctx.user.id)
    if cap is not None:
        used, reset_at = ctx.store.windows.count(cap_key, cap, ctx.now)
        cap_headers = {
            "x-user-limit-24hour-limit": str(cap.limit),
            "x-user-limit-24hour-remaining": str(max(0, cap.limit - used)),
            "x-user-limit-24hour-reset": str(int(math.ceil(reset_at))),
        }
        ctx.headers.update(cap_headers)
        if used >= cap.limit:
            ctx.sandbox.metrics.rate_limited.labels(PLATFORM).inc()
            return _too_many(ctx.headers)
    # The 24-hour cap of the whole app (x-app-limit-24hour-*), shared by every user it posts for.
    app_cap = ctx.store.limit_for(PLATFORM, "app_24h")
    if app_cap is not None:
        used, reset_at = ctx.store.windows.count(APP_CAP_KEY, app_cap, ctx.now)
        ctx.headers.update({
            "x-app-limit-24hour-limit": str(app_cap.limit),
            "x-app-limit-24hour-remaining": str(max(0, app_cap.limit - used)),
            "x-app-limit-24hour-reset": str(int(math.ceil(reset_at))),
        })  # fmt: skip
        if used >= app_cap.limit:
            ctx.sandbox.metrics.rate_limited.labels(PLATFORM).inc()
            return _too_many(ctx.headers)
    fault = await decide(ctx.sandbox, PLATFORM, ctx.user.username)
    ctx.now = ctx.store.now()
    injected = _fault_response(ctx, fault)
    if injected is not None:
        return injected

    text = body.get("text")
    if text is not None and not isinstance(text, str):
        return ctx.invalid("text", text, "`text` must be a string")
    text = text or ""
    media_ids: list[str] = []
    media = body.get("media")
    if media is not None:
        raw_ids = media.get("media_ids") if isinstance(media, dict) else None
        if not isinstance(raw_ids, list) or not 1 <= len(raw_ids) <= 4:
            return ctx.invalid("media.media_ids", raw_ids, "The `media.media_ids` field must contain 1 to 4 ids")
        media_ids = [str(m) for m in raw_ids]
    if not text.strip() and not media_ids:
        return ctx.invalid("text", text, "Text or media is required")
    attached: list[XMedia] = []
    for media_id in media_ids:
        item = ctx.state.media.get(media_id)
        if (item is None or item.owner != ctx.user.username or item.finalized_at is None
                or item.error is not None or item.ready_at is None or ctx.now < item.ready_at
                or ctx.now > item.created_at + MEDIA_EXPIRES):  # fmt: skip
            return ctx.invalid("media.media_ids", media_id, "Your media IDs are invalid.")
        attached.append(item)
    if len(attached) > 1 and any(m.category != "tweet_image" for m in attached):
        return ctx.invalid("media.media_ids", media_ids[0],
                           "A post may have 4 images, or 1 GIF, or 1 video")  # fmt: skip
    limit = PREMIUM_MAX_WEIGHT if ctx.user.premium else MAX_WEIGHT
    if weighted_length(text) > limit:
        return ctx.problem(
            403, "Forbidden",
            "Your Tweet text is too long. For more information on how Twitter determines text length see https://github.com/twitter/twitter-text.",
        )  # fmt: skip
    if text.strip():
        floor = ctx.now - DUPLICATE_WINDOW
        for tweet_id in reversed(ctx.user.tweet_ids):
            earlier = ctx.state.tweets.get(tweet_id)
            if earlier is None:
                continue
            if earlier.created_at < floor:
                break
            if earlier.text == text:
                return ctx.problem(403, "Forbidden",
                                   "You are not allowed to create a Tweet with duplicate content.")  # fmt: skip

    # Commit (nothing below awaits until the answer).
    if cap is not None:
        used, _ = ctx.store.windows.hit(cap_key, cap, ctx.now)
        ctx.headers["x-user-limit-24hour-remaining"] = str(max(0, cap.limit - used))
    if app_cap is not None:
        used, _ = ctx.store.windows.hit(APP_CAP_KEY, app_cap, ctx.now)
        ctx.headers["x-app-limit-24hour-remaining"] = str(max(0, app_cap.limit - used))
    tweet_id = ctx.state.next_id(ctx.now)
    shown, urls = _shorten(text, tweet_id)
    note = None
    if weighted_length(text) > MAX_WEIGHT:  # a long post: ``text`` keeps its start only
        note = (shown, urls)
        shown, urls = _shorten(_preview(text), tweet_id)
    for item in attached:
        item.used = True
    tweet = XTweet(tweet_id, ctx.user.username, text, shown, urls, [m.key for m in attached], ctx.now, note)
    ctx.state.tweets[tweet_id] = tweet
    ctx.user.tweet_ids.append(tweet_id)
    ctx.store.record_post(
        Post(
            platform=PLATFORM,
            account=ctx.user.username,
            id=tweet_id,
            text=text,
            media=[{"type": "photo" if m.category == "tweet_image" else
                    "animated_gif" if m.category == "tweet_gif" else "video",
                    "id": m.id, "media_key": m.key, "mime_type": m.mime, "alt_text": m.alt_text,
                    "size": m.total_bytes, "sha256": _digest(m)}
                   for m in attached],  # fmt: skip
            idempotency_key=None,
            received_at=ctx.now,
            url=f"https://x.com/{ctx.user.username}/status/{tweet_id}",
        )
    )
    ctx.sandbox.metrics.posts_accepted.labels(PLATFORM).inc()
    answered = note[0] if note is not None else shown  # the create answer keeps the whole text
    response = ctx.json({"data": {"id": tweet_id, "text": answered, "edit_history_tweet_ids": [tweet_id]}}, 201)
    return await held(response, fault)


# --------------------------------------------------------------------------- media upload


async def _params(request: Request) -> tuple[dict[str, Any], UploadFile | None]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        try:
            form = await request.form(max_part_size=SEGMENT_LIMIT + 1024)
        except HTTPException:
            raise _BadJson from None
        params = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        upload = form.get("media")
        return params, upload if isinstance(upload, UploadFile) else None
    body = await _json_body(request)
    return (body if isinstance(body, dict) else {}), None


@api(write=True)
async def media_initialize(ctx: Api) -> Response:
    try:
        params, _ = await _params(ctx.request)
    except _BadJson:
        return ctx.problem(400, "Invalid Request", "Request body is not valid JSON.", INVALID_REQUEST)
    media_type = str(params.get("media_type") or "")
    category = str(params.get("media_category") or "")
    try:
        total = int(params.get("total_bytes"))
    except (TypeError, ValueError):
        return ctx.invalid("total_bytes", params.get("total_bytes"), "`total_bytes` is required")
    if media_type == "image/gif":
        category = category or "tweet_gif"
    elif media_type.startswith("video/"):
        category = category or "tweet_video"
    elif media_type in IMAGE_TYPES:
        category = category or "tweet_image"
    else:
        return ctx.invalid("media_type", media_type, f"media_type {media_type!r} is not supported")
    if category not in LIMITS:
        return ctx.invalid("media_category", category, f"media_category {category!r} is not supported")
    if total <= 0 or total > LIMITS[category]:
        return ctx.invalid("total_bytes", total, f"File size exceeds {LIMITS[category]} bytes.")
    fault = await decide(ctx.sandbox, PLATFORM, ctx.user.username)
    injected = _fault_response(ctx, fault)
    if injected is not None:
        return injected
    media_id = ctx.state.next_id(ctx.store.now())
    key = f"{MEDIA_KEY_PREFIX[category]}_{media_id}"
    ctx.state.media[media_id] = XMedia(media_id, key, ctx.user.username, media_type, category, total,
                                      ctx.now)  # fmt: skip
    body = {"data": {"id": media_id, "media_key": key, "expires_after_secs": MEDIA_EXPIRES}}
    return await held(ctx.json(body), fault)


def _own_media(ctx: Api, media_id: str) -> XMedia | None:
    item = ctx.state.media.get(media_id)
    if item is None or item.owner != ctx.user.username or ctx.now > item.created_at + MEDIA_EXPIRES:
        return None
    return item


@api(write=True)
async def media_append(ctx: Api) -> Response:
    media_id = ctx.request.path_params["id"]
    try:
        params, upload = await _params(ctx.request)
    except _BadJson:
        return ctx.problem(400, "Invalid Request", "The request is not multipart/form-data.", INVALID_REQUEST)
    item = _own_media(ctx, media_id)
    if item is None:
        return ctx.invalid("id", media_id, f"Media id {media_id} was not found or has expired")
    if item.finalized_at is not None:
        return ctx.invalid("id", media_id, "The upload was already finalized")
    raw_index = str(params.get("segment_index", ""))
    if not raw_index.isdigit() or not 0 <= int(raw_index) <= 999:
        return ctx.invalid("segment_index", raw_index, "`segment_index` must be between 0 and 999")
    if upload is not None:
        data = await upload.read()
    elif isinstance(params.get("media_data"), str):
        try:
            data = base64.b64decode(params["media_data"], validate=True)
        except (binascii.Error, ValueError):
            return ctx.invalid("media_data", "…", "`media_data` is not base64")
    else:
        return ctx.invalid("media", None, "`media` or `media_data` is required")
    if len(data) > SEGMENT_LIMIT:
        return ctx.invalid("media", len(data), "A segment must be at most 5 MB")
    fault = await decide(ctx.sandbox, PLATFORM, ctx.user.username)
    injected = _fault_response(ctx, fault)
    if injected is not None:
        return injected  # an interrupted or refused segment is not kept
    item.segments[int(raw_index)] = data
    body = {"data": {"expires_at": int(item.created_at + MEDIA_EXPIRES)}}
    return await held(ctx.json(body), fault)


def _processing_info(item: XMedia, now: float) -> dict[str, Any] | None:
    if item.category == "tweet_image" and item.error is None:
        return None
    assert item.finalized_at is not None and item.ready_at is not None
    total = max(item.ready_at - item.finalized_at, 1e-9)
    done = (now - item.finalized_at) / total
    if done >= 1.0:
        if item.error is not None:
            return {"state": "failed", "progress_percent": 12,
                    "error": {"code": 1, "name": "InvalidMedia", "message": item.error}}  # fmt: skip
        return {"state": "succeeded", "progress_percent": 100}
    left = max(1, math.ceil(item.ready_at - now))
    state = "pending" if done < 0.2 else "in_progress"
    return {"state": state, "check_after_secs": left, "progress_percent": int(done * 100)}


def _digest(item: XMedia) -> str:
    """The SHA-256 of the bytes the segments carried, in order (what a test compares with the file)."""
    return hashlib.sha256(b"".join(item.segments[i] for i in sorted(item.segments))).hexdigest()


def _media_json(item: XMedia, now: float, size: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"id": item.id, "media_key": item.key}
    if size:
        body["size"] = item.total_bytes
    body["expires_after_secs"] = max(0, int(item.created_at + MEDIA_EXPIRES - now))
    info = _processing_info(item, now)
    if info is not None:
        body["processing_info"] = info
    if item.error is None and item.category == "tweet_image":
        body["image"] = {"image_type": item.mime, "w": item.width, "h": item.height}
    elif item.error is None:
        body["video"] = {"video_type": "video/mp4"}
    return body


@api(write=True)
async def media_finalize(ctx: Api) -> Response:
    media_id = ctx.request.path_params["id"]
    item = _own_media(ctx, media_id)
    if item is None:
        return ctx.invalid("id", media_id, f"Media id {media_id} was not found or has expired")
    if item.finalized_at is None:
        size = sum(len(s) for s in item.segments.values())
        if size != item.total_bytes:
            return ctx.invalid("id", media_id, "Segments do not add up to provided total file size.")
        data = b"".join(item.segments[i] for i in sorted(item.segments))
        fault = await decide(ctx.sandbox, PLATFORM, ctx.user.username)
        injected = _fault_response(ctx, fault)
        if injected is not None:
            return injected
        now = ctx.store.now()
        mime = sniff_mime(data[:64])
        item.mime = mime
        if item.category == "tweet_image":
            dims = image_size(data) if mime and mime.startswith("image/") and mime != "image/gif" else None
            if dims is None:
                return ctx.invalid("id", media_id, "InvalidMedia: the file is not a supported image.")
            item.width, item.height = dims
            item.ready_at = now
        else:
            wanted = "image/gif" if item.category == "tweet_gif" else "video/"
            if not (mime or "").startswith(wanted):
                item.error = "Invalid or Unsupported media, Reason: UnsupportedMedia."
            elif item.category != "tweet_gif":
                dims = video_size(data)
                item.width, item.height = dims if dims else (None, None)
            item.ready_at = now + ctx.state.processing_seconds
        item.finalized_at = now
        item.segments = {0: data}
        return await held(ctx.json({"data": _media_json(item, now)}), fault)
    return ctx.json({"data": _media_json(item, ctx.now)})


@api()
async def media_status(ctx: Api) -> Response:
    q = ctx.request.query_params
    if q.get("command") != "STATUS":
        return ctx.invalid("command", q.get("command"), "`command` must be STATUS")
    media_id = q.get("media_id", "")
    item = _own_media(ctx, media_id)
    if item is None or item.finalized_at is None:
        return ctx.invalid("media_id", media_id, f"Media id {media_id} was not found or is not finalized")
    return ctx.json({"data": _media_json(item, ctx.now, size=False)})


@api(write=True)
async def media_metadata(ctx: Api) -> Response:
    try:
        body = await _json_body(ctx.request)
    except _BadJson:
        return ctx.problem(400, "Invalid Request", "Request body is not valid JSON.", INVALID_REQUEST)
    if not isinstance(body, dict):
        return ctx.invalid("id", None, "`id` is required")
    media_id = str(body.get("id", ""))
    item = _own_media(ctx, media_id)
    if item is None:
        return ctx.invalid("id", media_id, f"Media id {media_id} was not found or has expired")
    alt = ((body.get("metadata") or {}).get("alt_text") or {}).get("text")
    if alt is not None:
        if not isinstance(alt, str) or len(alt) > 1000:
            return ctx.invalid("metadata.alt_text.text", alt, "Alt text must be at most 1000 characters")
        item.alt_text = alt
    return ctx.json({"data": {"id": media_id, "associated_metadata": True}})


# --------------------------------------------------------------------------- OAuth 2.0


async def oauth_token(request: Request) -> Response:
    """``grant_type=refresh_token``: a new access token (2 h) and a new refresh token; the one
    sent is spent."""
    sandbox = sandbox_of(request)
    store = sandbox.store
    state = state_of(sandbox)

    def error(description: str, status: int = 400, error: str = "invalid_request") -> Response:
        return Response(json_bytes({"error": error, "error_description": description}),
                        status_code=status, media_type=JSON)  # fmt: skip

    try:
        form = await request.form()
    except HTTPException:
        return error("Request body is not a form.")
    grant = form.get("grant_type")
    if grant != "refresh_token":
        return error("Value passed for the grant type was invalid.")
    basic = request.headers.get("authorization", "").lower().startswith("basic ")
    if not form.get("client_id") and not basic:
        return error("Missing required parameter [client_id].")
    refresh = str(form.get("refresh_token") or "")
    if not state.tokens.use_refresh(store, PLATFORM, refresh):
        return error("Value passed for the token was invalid.")
    owner = identity(refresh)
    access, _ = state.tokens.issue(store, owner)
    new_refresh = f"{owner}.rt-{secrets.token_urlsafe(24)}"
    return Response(json_bytes({
        "token_type": "bearer",
        "expires_in": TOKEN_SECONDS,
        "access_token": access,
        "scope": "tweet.write users.read tweet.read offline.access media.write",
        "refresh_token": new_refresh,
    }), media_type=JSON)  # fmt: skip


async def not_found(request: Request) -> Response:
    return _problem(404, "Not Found Error", f"Sorry, that page does not exist: {request.url.path}")


routes = [
    Route("/2/users/me", users_me, methods=["GET"]),
    Route("/2/users/{id}/tweets", user_tweets, methods=["GET"]),
    Route("/2/tweets", create_tweet, methods=["POST"]),
    Route("/2/tweets/{id}", show_tweet, methods=["GET"]),
    Route("/2/tweets/{id}", delete_tweet, methods=["DELETE"]),
    Route("/2/media/upload/initialize", media_initialize, methods=["POST"]),
    Route("/2/media/upload/{id}/append", media_append, methods=["POST"]),
    Route("/2/media/upload/{id}/finalize", media_finalize, methods=["POST"]),
    Route("/2/media/upload", media_status, methods=["GET"]),
    Route("/2/media/metadata", media_metadata, methods=["POST"]),
    Route("/2/oauth2/token", oauth_token, methods=["POST"]),
    Route("/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
]

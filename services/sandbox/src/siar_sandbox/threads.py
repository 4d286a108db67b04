"""An imitation of the Threads API (graph.threads.net), mounted under ``/threads``.

Paths with or without the version prefix (``/v1.0/…``):

- ``GET /me``, ``GET /{threads-user-id}`` (``username``, ``name``, ``threads_biography``, …);
- ``POST /{threads-user-id}/threads``: a container, ``media_type`` TEXT | IMAGE (``image_url``) |
  VIDEO (``video_url``) | CAROUSEL (``children``, 2-20 items made with ``is_carousel_item``);
- ``GET /{container-id}?fields=status,error_message``: TEXT is FINISHED at once, IMAGE after
  ``meta_image_processing_seconds``, VIDEO after ``meta_video_processing_seconds``; ERROR with
  FAILED_DOWNLOADING_VIDEO / FAILED_PROCESSING_VIDEO / UNKNOWN; EXPIRED after 24 hours unpublished;
  PUBLISHED once published (developers.facebook.com/documentation/threads/troubleshooting);
- ``POST /{threads-user-id}/threads_publish?creation_id=``: the media id; the post is recorded;
- ``GET /{threads-user-id}/threads``, ``GET /{media-id}`` (``permalink``, ``text``, ``timestamp``);
- ``GET /{threads-user-id}/threads_publishing_limit`` (250 per rolling 24 h unless the control API
  sets the ``publishing`` limit);
- ``GET /{media-id}/insights`` (views, likes, replies, reposts, quotes, shares, growing with the
  time since publication), ``GET /{threads-user-id}/threads_insights?metric=followers_count``;
- ``GET /refresh_access_token?grant_type=th_refresh_token``, ``GET /debug_token``.

Text is limited to 500, each emoji counting as its UTF-8 bytes (threads/posts). Unconfirmed and
modelled on Instagram: text too long 100; publishing before FINISHED 9007/2207027; the quota
9/2207042; rate limits 4 with X-App-Usage (no X-Business-Use-Case-Usage). A user id starting
with ``0`` does not exist (100/33)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from siar_platforms import threads_length
from starlette.responses import Response

from . import postmetrics as engagement
from .graph import (
    LONG_LIVED_SECONDS,
    Container,
    GraphCall,
    GraphError,
    GraphState,
    RateLimitShape,
    Router,
    age,
    debug_token_body,
    fault,
    fetch,
    graph_time,
    insights_body,
    invalid_parameter,
    is_url,
    metric_list,
    missing_parameter,
    no_object,
    numeric_id,
    paged,
    quota_usage,
    shortcode,
)
from .graph import (
    routes as graph_routes,
)
from .settings import Settings
from .store import Post

PLATFORM = "threads"
TEXT_LIMIT = 500
CAROUSEL_MIN, CAROUSEL_MAX = 2, 20
SCOPES = ("threads_basic", "threads_content_publish", "threads_manage_insights")
RATE = RateLimitShape(4, "(#4) Application request limit reached", None)
MEDIA_METRICS = ("views", "likes", "replies", "reposts", "quotes", "shares")
USER_METRICS = ("followers_count",)


def user_id(username: str) -> str:
    """The Threads user id of the account a token names (``library.secret`` -> ``library``)."""
    return numeric_id(25, username, 15)


def text_length(text: str) -> int:
    """Threads' count (platforms.md, Threads): one per character, and each emoji as many as its
    UTF-8 bytes, a sequence shown as one picture (a flag, a ZWJ family: 25) as a whole
    (siar_platforms.threads_length, the count Siar checks before sending)."""
    return threads_length(text)


@dataclass
class Thread:
    id: str
    owner: str
    text: str
    media_type: str  # TEXT_POST IMAGE VIDEO CAROUSEL_ALBUM
    timestamp: float
    permalink: str
    container: str


class ThreadsState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.graph = GraphState(PLATFORM, token_lifetime=LONG_LIVED_SECONDS, scopes=SCOPES)
        self.containers: dict[str, Container] = {}
        self.threads: dict[str, Thread] = {}
        self.threads_of: dict[str, list[str]] = defaultdict(list)
        self.published: dict[str, list[float]] = defaultdict(list)

    def username(self, owner: str, token_user: str | None) -> str:
        if token_user is not None and user_id(token_user) == owner:
            return token_user
        return f"perpus_{owner[-5:]}"


def media_insights(media_id: str, age_seconds: float) -> dict[str, int]:
    """Every post metric ``age_seconds`` after publication (what tests predict)."""
    return {
        "views": engagement.grown(media_id, "views", age_seconds, 100, 3_000),
        "likes": engagement.grown(media_id, "likes", age_seconds, 5, 300),
        "replies": engagement.grown(media_id, "replies", age_seconds, 0, 40),
        "reposts": engagement.grown(media_id, "reposts", age_seconds, 0, 30),
        "quotes": engagement.grown(media_id, "quotes", age_seconds, 0, 10),
        "shares": engagement.grown(media_id, "shares", age_seconds, 0, 25),
    }


def followers_count(owner: str, posts: int) -> int:
    return engagement.followers(owner, 50, 3_000, posts)


def _state(call: GraphCall) -> ThreadsState:
    return call.state  # type: ignore[no-any-return]


def _token_user(call: GraphCall) -> str | None:
    return call.token.user if call.token is not None else None


def _account(call: GraphCall, owner: str, method: str = "get") -> str:
    if owner == "me":
        return user_id(call.user)
    if owner.startswith("0"):
        raise no_object(owner, method)
    return owner


def _account_of(call: GraphCall, values: dict[str, str]) -> str:
    node = values.get("id") or values.get("owner")
    state = _state(call)
    if node and node.isdigit() and not node.startswith("0"):
        if node in state.containers:
            return state.containers[node].owner
        if node in state.threads:
            return state.threads[node].owner
        return node
    return user_id(call.user) if call.token is not None else "anonymous"


def _no_permission() -> GraphError:
    return GraphError(
        10, "(#10) The user has not accepted the permission threads_content_publish", status=403
    )


def _user_json(call: GraphCall, owner: str, fields: list[str]) -> dict[str, Any]:
    username = _state(call).username(owner, _token_user(call))
    known = {
        "id": owner,
        "username": username,
        "name": username.replace("_", " ").title(),
        "threads_profile_picture_url": f"https://scontent.cdninstagram.com/t/{owner}.jpg",
        "threads_biography": "Perpustakaan umum",
        "is_verified": False,
    }
    body = {name: known[name] for name in fields if name in known}
    body.setdefault("id", owner)
    return body


def _container_json(call: GraphCall, container: Container, fields: list[str]) -> dict[str, Any]:
    state = _state(call)
    status = container.status(call.now, state.containers.get)
    known: dict[str, Any] = {"id": container.id, "status": status}
    if status == "ERROR":
        known["error_message"] = (
            container.error or container.failed_child(call.now, state.containers.get) or "UNKNOWN"
        )
    body = {name: known[name] for name in fields if name in known}
    body.setdefault("id", container.id)
    return body


def _thread_json(call: GraphCall, thread: Thread, fields: list[str]) -> dict[str, Any]:
    known = {
        "id": thread.id,
        "media_product_type": "THREADS",
        "media_type": thread.media_type,
        "permalink": thread.permalink,
        "owner": {"id": thread.owner},
        "username": _state(call).username(thread.owner, _token_user(call)),
        "text": thread.text,
        "timestamp": graph_time(thread.timestamp),
        "shortcode": shortcode(thread.id),
        "is_quote_post": False,
    }
    body = {name: known[name] for name in fields if name in known}
    body.setdefault("id", thread.id)
    return body


# --------------------------------------------------------------------------- endpoints


async def me(call: GraphCall, values: dict[str, str]) -> Response:
    return call.json(_user_json(call, user_id(call.user), call.fields(("id",))))


async def node(call: GraphCall, values: dict[str, str]) -> Response:
    state = _state(call)
    object_id = values["id"]
    if object_id in state.containers:
        return call.json(
            _container_json(call, state.containers[object_id], call.fields(("id",)))
        )
    if object_id in state.threads:
        return call.json(_thread_json(call, state.threads[object_id], call.fields(("id",))))
    return call.json(_user_json(call, _account(call, object_id), call.fields(("id",))))


async def create_container(call: GraphCall, values: dict[str, str]) -> Response:
    owner = _account(call, values["owner"], "post")
    call.require_permission(_no_permission())
    await fault(call, owner, RATE)
    state = _state(call)
    settings = state.settings
    media_type = (call.arg("media_type") or "").strip().upper()
    if not media_type:
        raise missing_parameter("media_type")
    if media_type not in ("TEXT", "IMAGE", "VIDEO", "CAROUSEL"):
        raise invalid_parameter("(#100) media_type must be one of TEXT, IMAGE, VIDEO, CAROUSEL")
    item = call.flag("is_carousel_item")
    text = call.arg("text") or ""
    if text_length(text) > TEXT_LIMIT:
        raise invalid_parameter(f"(#100) Param text must be at most {TEXT_LIMIT} characters long.")
    media: list[dict[str, Any]] = []
    children: list[str] = []
    error: str | None = None
    delay = 0.0
    if media_type == "TEXT":
        if not text:
            raise missing_parameter("text")
        if item:
            raise invalid_parameter("(#100) A TEXT post cannot be a carousel item")
    elif media_type == "IMAGE":
        url = call.arg("image_url")
        if not is_url(url):
            raise missing_parameter("image_url")
        got = fetch(url)  # type: ignore[arg-type]
        delay = settings.meta_image_processing_seconds
        if not got.ok or got.kind != "image":
            error = "UNKNOWN"
        media.append({"type": "image", "url": url, "mime_type": got.mime})
    elif media_type == "VIDEO":
        url = call.arg("video_url")
        if not is_url(url):
            raise missing_parameter("video_url")
        got = fetch(url)  # type: ignore[arg-type]
        delay = settings.meta_video_processing_seconds
        if not got.ok:
            error = "FAILED_DOWNLOADING_VIDEO"
        elif got.kind != "video":
            error = "FAILED_PROCESSING_VIDEO"
        media.append({"type": "video", "url": url, "mime_type": got.mime})
    else:
        raw = call.structured("children")
        if isinstance(raw, list):
            children = [str(c).strip() for c in raw if str(c).strip()]
        elif raw:
            children = [c.strip() for c in str(raw).split(",") if c.strip()]
        if not CAROUSEL_MIN <= len(children) <= CAROUSEL_MAX:
            raise invalid_parameter(
                f"(#100) A carousel takes {CAROUSEL_MIN} to {CAROUSEL_MAX} children"
            )
        for i, child in enumerate(children):
            found = state.containers.get(child)
            if found is None or found.owner != owner or not found.is_carousel_item:
                raise invalid_parameter(f"(#100) Param children[{i}] is not a carousel item")
            media.extend(found.media)
    call.now = call.store.now()  # processing starts once the media is fetched
    container = Container(
        id=state.graph.next_id(call.now), owner=owner, media_type=media_type, text=text,
        media=media, children=children, is_carousel_item=item, created_at=call.now,
        ready_at=call.now + delay, error=error,
    )  # fmt: skip
    state.containers[container.id] = container
    call.commit()
    return call.json({"id": container.id})


async def publish(call: GraphCall, values: dict[str, str]) -> Response:
    owner = _account(call, values["owner"], "post")
    call.require_permission(_no_permission())
    await fault(call, owner, RATE)
    state = _state(call)
    creation_id = call.arg("creation_id")
    if not creation_id:
        raise missing_parameter("creation_id")
    container = state.containers.get(creation_id)
    if container is None or container.owner != owner or container.is_carousel_item:
        raise no_object(creation_id)
    status = container.status(call.now, state.containers.get)
    if status != "FINISHED":
        messages = {
            "IN_PROGRESS": "The media is not ready for publishing, please wait for a moment",
            "ERROR": "The media could not be processed",
            "EXPIRED": "The container expired: it was not published within 24 hours",
            "PUBLISHED": "This container has already been published",
        }
        subcodes = {"IN_PROGRESS": 2207027, "ERROR": 2207032, "EXPIRED": 2207008,
                    "PUBLISHED": 2207006}  # fmt: skip
        raise GraphError(
            9007, "Media ID is not available", subcode=subcodes[status], is_transient=False,
            user_title="Media Not Published", user_msg=messages[status],
        )  # fmt: skip
    times = state.published[owner]
    used, total, _ = quota_usage(call.store, PLATFORM, times, call.now)
    if used >= total:
        raise GraphError(
            9, "Application request limit reached", subcode=2207042, status=403,
            is_transient=False, user_title="Max posts reached",
            user_msg=f"This profile has published {total} posts in the last 24 hours.",
        )  # fmt: skip
    thread_id = state.graph.next_id(call.now)
    kind = {"TEXT": "TEXT_POST", "CAROUSEL": "CAROUSEL_ALBUM"}.get(
        container.media_type, container.media_type
    )
    username = state.username(owner, _token_user(call))
    thread = Thread(
        id=thread_id, owner=owner, text=container.text, media_type=kind, timestamp=call.now,
        permalink=f"https://www.threads.net/@{username}/post/{shortcode(thread_id)}",
        container=container.id,
    )  # fmt: skip
    state.threads[thread_id] = thread
    state.threads_of[owner].append(thread_id)
    container.published_id = thread_id
    container.published_at = call.now
    for child_id in container.children:
        child = state.containers[child_id]
        child.published_id = state.graph.next_id(call.now)
        child.published_at = call.now
    times.append(call.now)
    call.store.record_post(
        Post(
            platform=PLATFORM, account=owner, id=thread_id, text=container.text,
            media=[dict(m) for m in container.media], idempotency_key=None,
            received_at=call.now, url=thread.permalink,
        )
    )  # fmt: skip
    call.sandbox.metrics.posts_accepted.labels(PLATFORM).inc()
    call.commit()
    return call.json({"id": thread_id})


async def threads_list(call: GraphCall, values: dict[str, str]) -> Response:
    owner = _account(call, values["owner"])
    state = _state(call)
    fields = call.fields(("id",))
    items = [
        _thread_json(call, state.threads[t], fields)
        for t in reversed(state.threads_of.get(owner, []))
    ]
    return call.json(paged(call, items, f"{owner}/threads"))


async def publishing_limit(call: GraphCall, values: dict[str, str]) -> Response:
    owner = _account(call, values["owner"])
    used, total, duration = quota_usage(
        call.store, PLATFORM, _state(call).published[owner], call.now
    )
    fields = call.fields(("quota_usage",))
    entry: dict[str, Any] = {}
    if "quota_usage" in fields:
        entry["quota_usage"] = used
    if "config" in fields:
        entry["config"] = {"quota_total": total, "quota_duration": duration}
    if "reply_quota_usage" in fields:
        entry["reply_quota_usage"] = 0
    if "reply_config" in fields:
        entry["reply_config"] = {"quota_total": 1000, "quota_duration": duration}
    return call.json({"data": [entry]})


def _check_metrics(metrics: list[str], allowed: tuple[str, ...]) -> None:
    for i, name in enumerate(metrics):
        if name not in allowed:
            raise invalid_parameter(
                f"(#100) metric[{i}] must be one of the following values: {', '.join(allowed)}"
            )


async def insights(call: GraphCall, values: dict[str, str]) -> Response:
    thread = _state(call).threads.get(values["id"])
    if thread is None:
        raise no_object(values["id"])
    metrics = metric_list(call)
    _check_metrics(metrics, MEDIA_METRICS)
    now_values = media_insights(thread.id, age(call.now, thread.timestamp))
    titles = {m: m.capitalize() for m in MEDIA_METRICS}
    return call.json(insights_body(thread.id, {m: now_values[m] for m in metrics}, titles=titles))


async def user_insights(call: GraphCall, values: dict[str, str]) -> Response:
    owner = _account(call, values["owner"])
    metrics = metric_list(call)
    _check_metrics(metrics, USER_METRICS)
    posts = len(_state(call).threads_of.get(owner, ()))
    known = {"followers_count": followers_count(owner, posts)}
    return call.json(
        insights_body(owner, {m: known[m] for m in metrics}, period="day", total_value=True,
                      titles={"followers_count": "Followers"})  # fmt: skip
    )


async def refresh_access_token(call: GraphCall, values: dict[str, str]) -> Response:
    if call.arg("grant_type") != "th_refresh_token":
        raise invalid_parameter("(#100) grant_type must be th_refresh_token")
    assert call.token is not None
    issued = _state(call).graph.issue(call.token.user, call.now, LONG_LIVED_SECONDS)
    return call.json(
        {"access_token": issued.token, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}
    )


async def debug_token(call: GraphCall, values: dict[str, str]) -> Response:
    return call.json(debug_token_body(call, _state(call).graph, "Siar Sandbox (Threads)", user_id))


router = Router()
router.add("GET", "/me", me)
router.add("GET", "/refresh_access_token", refresh_access_token)
router.add("GET", "/debug_token", debug_token)
router.add("GET", "/{owner}/threads", threads_list)
router.add("POST", "/{owner}/threads", create_container)
router.add("POST", "/{owner}/threads_publish", publish)
router.add("GET", "/{owner}/threads_publishing_limit", publishing_limit)
router.add("GET", "/{owner}/threads_insights", user_insights)
router.add("GET", "/{id:id}/insights", insights)
router.add("GET", "/{id:id}", node)

routes = graph_routes(PLATFORM, router, ThreadsState, _account_of, RATE)

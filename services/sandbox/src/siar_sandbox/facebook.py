"""An imitation of the Facebook Pages Graph API, mounted under ``/facebook``.

Paths with or without the version prefix (``/v21.0/…``), Page tokens (they never expire):

- ``GET /me`` (the Page a token names), ``GET /{page-id}`` (``name``, ``username``, ``link``,
  ``followers_count``, ``fan_count``), ``GET /debug_token``;
- ``POST /{page-id}/feed`` (``message``, ``link``, ``attached_media`` of unpublished photos,
  ``published``; ``fields=id,permalink_url`` adds the URL to the answer) -> ``{"id":
  "{page-id}_{post-id}"}``;
- ``POST /{page-id}/photos`` (``url``, ``caption``, ``published``): ``{"id"}`` for an unpublished
  photo, ``{"id", "post_id"}`` for a published one;
- ``POST /{page-id}/videos`` (``file_url``, ``description``, ``title``): ``{"id"}``; ``GET
  /{video-id}?fields=status`` gives ``status.video_status`` processing -> ready (after
  ``meta_video_processing_seconds``) or error; ``permalink_url`` is relative, as Facebook's;
- ``GET /{page-id}/feed|posts|published_posts`` and ``GET /{page-id}/videos`` (newest first);
- ``GET /{post-id}/insights?metric=post_total_media_view_unique,post_media_view,
  post_reactions_by_type_total,post_clicks`` (growing with the time since publication; the
  deprecated ``post_impressions*`` metrics are refused); a video has no ``insights`` edge
  (``(#100) Tried accessing nonexisting field (insights) on node type (Video)``) but
  ``GET /{video-id}/video_insights[?metric=total_video_views,total_video_views_unique,
  total_video_reactions_by_type_total]`` (period ``lifetime``, ids ``{video-id}/video_insights/
  {name}/lifetime``; developers.facebook.com/docs/video-api/guides/insights);
- a post's ``shares`` (``{"count"}``, absent while nobody shared it) and ``comments`` edge
  (``comments.limit(0).summary(true)`` -> ``{"data": [], "summary": {"order", "total_count",
  "can_comment"}}``), also growing with time; a video has ``comments`` but no ``shares`` field.

Errors (graph.py for the shape): 506 for a message identical to the Page's previous post; 200
for a token starting with ``noperm``; 324 for a photo URL that cannot be downloaded or is not an
image; 368 (subcode 1390008) for a message containing ``SANDBOX_SPAM``; rate limits (injected
429 or the ``calls`` limit) 32 "Page request limit reached" with X-Business-Use-Case-Usage
``type: pages``. A Page id starting with ``0`` does not exist (100/33)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from . import postmetrics as engagement
from .graph import (
    GraphCall,
    GraphError,
    GraphState,
    RateLimitShape,
    Router,
    age,
    debug_token_body,
    fault,
    fetch,
    field_spec,
    graph_time,
    insights_body,
    invalid_parameter,
    is_url,
    metric_list,
    missing_parameter,
    no_object,
    nonexisting_field,
    numeric_id,
    paged,
)
from .graph import (
    routes as graph_routes,
)
from .settings import Settings
from .store import Post, stable_number

PLATFORM = "facebook"
MESSAGE_LIMIT = 63_206
SPAM_MARKER = "SANDBOX_SPAM"
SCOPES = ("pages_show_list", "pages_manage_posts", "pages_read_engagement", "read_insights")
RATE = RateLimitShape(32, "(#32) Page request limit reached", "pages")
POST_METRICS = (
    "post_total_media_view_unique",
    "post_media_view",
    "post_reactions_by_type_total",
    "post_clicks",
)
DEPRECATED_METRICS = ("post_impressions", "post_impressions_unique", "post_impressions_paid")
VIDEO_METRICS = (
    "total_video_views",
    "total_video_views_unique",
    "total_video_reactions_by_type_total",
)
VIDEO_TITLES = {
    "total_video_views": "Lifetime Total Video Views",
    "total_video_views_unique": "Lifetime Unique Video Views",
    "total_video_reactions_by_type_total": "Lifetime Reactions by type",
}


def page_id(name: str) -> str:
    """The Page id a token names (``library.secret`` -> ``library``)."""
    return numeric_id(10, name, 13)


@dataclass
class Photo:
    id: str
    page: str
    url: str
    mime: str
    published: bool
    created: float
    attached_to: str | None = None


@dataclass
class Video:
    id: str
    page: str
    url: str
    description: str
    created: float
    ready_at: float
    error: bool


@dataclass
class PagePost:
    id: str
    page: str
    message: str
    link: str | None
    created: float
    kind: str  # mobile_status_update added_photos added_video shared_story
    media: list[dict[str, Any]] = field(default_factory=list)

    @property
    def permalink(self) -> str:
        page, _, post = self.id.partition("_")
        return f"https://www.facebook.com/{page}/posts/{post}"


class FacebookState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.graph = GraphState(PLATFORM, token_lifetime=None, scopes=SCOPES)
        self.posts: dict[str, PagePost] = {}
        self.posts_of: dict[str, list[str]] = defaultdict(list)
        self.photos: dict[str, Photo] = {}
        self.videos: dict[str, Video] = {}
        self.videos_of: dict[str, list[str]] = defaultdict(list)

    def name(self, page: str, token_user: str | None) -> str:
        if token_user is not None and page_id(token_user) == page:
            return token_user
        return f"perpustakaan{page[-4:]}"


def post_insights(post_id: str, age_seconds: float) -> dict[str, Any]:
    """Every post metric ``age_seconds`` after publication (what tests predict)."""
    unique = engagement.grown(post_id, "post_total_media_view_unique", age_seconds, 100, 4_000)
    views = unique * (110 + stable_number(f"{post_id}:post_media_view", 70)) // 100
    reactions = {
        "like": engagement.grown(post_id, "like", age_seconds, 5, 300),
        "love": engagement.grown(post_id, "love", age_seconds, 0, 60),
        "wow": engagement.grown(post_id, "wow", age_seconds, 0, 10),
        "haha": engagement.grown(post_id, "haha", age_seconds, 0, 10),
    }
    return {
        "post_total_media_view_unique": unique,
        "post_media_view": views,
        "post_reactions_by_type_total": {k: v for k, v in reactions.items() if v},
        "post_clicks": engagement.grown(post_id, "post_clicks", age_seconds, 0, 200),
    }


def video_insights(video_id: str, age_seconds: float) -> dict[str, Any]:
    """Every video metric ``age_seconds`` after publication (what tests predict)."""
    unique = engagement.grown(video_id, "total_video_views_unique", age_seconds, 50, 3_000)
    views = unique * (120 + stable_number(f"{video_id}:total_video_views", 80)) // 100
    reactions = {
        "like": engagement.grown(video_id, "like", age_seconds, 5, 300),
        "love": engagement.grown(video_id, "love", age_seconds, 0, 60),
    }
    return {
        "total_video_views": views,
        "total_video_views_unique": unique,
        "total_video_reactions_by_type_total": {k: v for k, v in reactions.items() if v},
    }


def post_counts(post_id: str, age_seconds: float) -> dict[str, int]:
    """A post's (or video's) comments and shares ``age_seconds`` after publication (what tests
    predict); read as the ``comments`` edge's ``summary.total_count`` and ``shares.count``."""
    return {
        "comments": engagement.grown(post_id, "comments", age_seconds, 0, 120),
        "shares": engagement.grown(post_id, "shares", age_seconds, 0, 60),
    }


def _comments_json(object_id: str, created: float, now: float, modifiers: dict[str, str]) -> dict[str, Any]:
    """The ``comments`` edge as a field: the first ``limit`` comments (25 unless given), oldest
    first, and with ``summary(true)`` their total."""
    total = post_counts(object_id, age(now, created))["comments"]
    try:
        limit = max(0, min(100, int(modifiers.get("limit", "25"))))
    except ValueError:
        limit = 25
    node = object_id.rsplit("_", 1)[-1]
    step = max(1.0, (now - created) / (total + 1))
    data = [
        {"created_time": graph_time(created + step * (i + 1)), "message": f"Terima kasih infonya! ({i + 1})",
         "id": f"{node}_{10_000 + i}"}
        for i in range(min(limit, total))
    ]  # fmt: skip
    body: dict[str, Any] = {"data": data}
    if data:
        body["paging"] = {"cursors": {"before": b"0".hex(), "after": str(len(data)).encode().hex()}}
    if modifiers.get("summary", "").lower() in ("true", "1", "total_count"):
        body["summary"] = {"order": "ranked", "total_count": total, "can_comment": True}
    return body


def _counted_fields(call: GraphCall, object_id: str, created: float, fields: list[str],
                    node_type: str) -> dict[str, Any]:  # fmt: skip
    """The ``shares`` and ``comments`` fields among ``fields``, as Graph answers them."""
    body: dict[str, Any] = {}
    for field_ in fields:
        name, modifiers = field_spec(field_)
        if name == "shares":
            if node_type != "Post":
                raise nonexisting_field(name, node_type)
            shares = post_counts(object_id, age(call.now, created))["shares"]
            if shares:
                body["shares"] = {"count": shares}
        elif name == "comments":
            body["comments"] = _comments_json(object_id, created, call.now, modifiers)
    return body


def followers_count(page: str, posts: int) -> int:
    return engagement.followers(page, 200, 20_000, posts)


def _state(call: GraphCall) -> FacebookState:
    return call.state  # type: ignore[no-any-return]


def _token_user(call: GraphCall) -> str | None:
    return call.token.user if call.token is not None else None


def _page(call: GraphCall, page: str, method: str = "get") -> str:
    if page == "me":
        return page_id(call.user)
    if not page.isdigit() or page.startswith("0"):
        raise no_object(page, method)
    return page


def _account_of(call: GraphCall, values: dict[str, str]) -> str:
    node = values.get("page") or values.get("id") or ""
    head = node.split("_", 1)[0]
    if head.isdigit() and not head.startswith("0"):
        state = _state(call)
        if head in state.photos:
            return state.photos[head].page
        if head in state.videos:
            return state.videos[head].page
        return head
    return page_id(call.user) if call.token is not None else "anonymous"


def _no_permission() -> GraphError:
    return GraphError(
        200,
        "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts "
        "as an admin with sufficient administrative permission",
        status=403,
    )


def _page_json(call: GraphCall, page: str, fields: list[str]) -> dict[str, Any]:
    state = _state(call)
    name = state.name(page, _token_user(call))
    posts = len(state.posts_of.get(page, ()))
    followers = followers_count(page, posts)
    known = {
        "id": page,
        "name": name.replace("_", " ").title(),
        "username": name,
        "link": f"https://www.facebook.com/{name}",
        "followers_count": followers,
        "fan_count": followers * 9 // 10,
        "category": "Library",
    }
    body = {f: known[f] for f in fields if f in known}
    body.setdefault("id", page)
    return body


def _post_json(call: GraphCall, post: PagePost, fields: list[str]) -> dict[str, Any]:
    state = _state(call)
    known = {
        "id": post.id,
        "message": post.message,
        "created_time": graph_time(post.created),
        "permalink_url": post.permalink,
        "status_type": post.kind,
        "from": {"id": post.page, "name": state.name(post.page, _token_user(call)).title()},
        "is_published": True,
    }
    body = {f: known[f] for f in fields if f in known and (f != "message" or post.message)}
    body.setdefault("id", post.id)
    body.update(_counted_fields(call, post.id, post.created, fields, "Post"))
    return body


def _video_status(call: GraphCall, video: Video) -> str:
    if call.now < video.ready_at:
        return "processing"
    return "error" if video.error else "ready"


def _video_json(call: GraphCall, video: Video, fields: list[str]) -> dict[str, Any]:
    status = _video_status(call, video)
    phase = {"processing": "in_progress", "ready": "complete", "error": "error"}[status]
    known = {
        "id": video.id,
        "description": video.description,
        "created_time": graph_time(video.created),
        "updated_time": graph_time(video.created),
        "permalink_url": f"/{_state(call).name(video.page, _token_user(call))}/videos/{video.id}/",
        "status": {
            "video_status": status,
            "uploading_phase": {"status": "complete"},
            "processing_phase": {"status": phase},
            "publishing_phase": {
                "status": "complete" if status == "ready" else "not_started",
                "publish_status": "published" if status == "ready" else "not_published",
            },
        },
    }
    body = {f: known[f] for f in fields if f in known}
    body.setdefault("id", video.id)
    body.update(_counted_fields(call, video.id, video.created, fields, "Video"))
    return body


def _record(call: GraphCall, post: PagePost, url: str) -> None:
    call.store.record_post(
        Post(
            platform=PLATFORM, account=post.page, id=post.id, text=post.message,
            media=post.media, idempotency_key=None, received_at=call.now, url=url,
        )
    )  # fmt: skip
    call.sandbox.metrics.posts_accepted.labels(PLATFORM).inc()


def _check_message(state: FacebookState, page: str, message: str) -> None:
    if len(message) > MESSAGE_LIMIT:
        raise invalid_parameter(f"(#100) Param message must be at most {MESSAGE_LIMIT} characters")
    if SPAM_MARKER in message:
        raise GraphError(
            368, "The action attempted has been deemed abusive or is otherwise disallowed",
            subcode=1390008, user_title="You Can't Use This Feature Right Now",
            user_msg="It looks like you were misusing this feature by going too fast. You've been "
            "temporarily blocked from using it.",
        )  # fmt: skip
    previous = state.posts_of.get(page)
    if message and previous and state.posts[previous[-1]].message == message:
        raise GraphError(506, "(#506) Duplicate status message")


def _new_post(call: GraphCall, page: str, message: str, link: str | None, kind: str,
              media: list[dict[str, Any]]) -> PagePost:  # fmt: skip
    state = _state(call)
    post = PagePost(
        id=f"{page}_{state.graph.next_id(call.now)}", page=page, message=message, link=link,
        created=call.now, kind=kind, media=media,
    )  # fmt: skip
    state.posts[post.id] = post
    state.posts_of[page].append(post.id)
    return post


# --------------------------------------------------------------------------- endpoints


async def me(call: GraphCall, values: dict[str, str]) -> Response:
    return call.json(_page_json(call, page_id(call.user), call.fields(("id", "name"))))


async def debug_token(call: GraphCall, values: dict[str, str]) -> Response:
    body = debug_token_body(call, _state(call).graph, "Siar Sandbox (Facebook)", page_id)
    if body["data"].get("is_valid"):
        body["data"]["type"] = "PAGE"
        body["data"]["profile_id"] = body["data"]["user_id"]
    return call.json(body)


async def node(call: GraphCall, values: dict[str, str]) -> Response:
    state = _state(call)
    object_id = values["id"]
    fields = call.fields(("id",))
    if object_id in state.posts:
        return call.json(_post_json(call, state.posts[object_id], fields))
    if object_id in state.videos:
        return call.json(_video_json(call, state.videos[object_id], fields))
    if object_id in state.photos:
        photo = state.photos[object_id]
        return call.json({"id": photo.id, "created_time": graph_time(photo.created)})
    if "_" in object_id:
        raise no_object(object_id)
    return call.json(_page_json(call, _page(call, object_id), fields))


def _attached(call: GraphCall, page: str) -> list[Photo]:
    raw: Any = call.structured("attached_media")
    if raw is None:
        indexed = sorted(
            (k for k in call.params if k.startswith("attached_media[")),
            key=lambda k: int(k[len("attached_media[") : -1] or 0)
            if k[len("attached_media[") : -1].isdigit() else 0,
        )  # fmt: skip
        raw = [call.structured(k) for k in indexed] if indexed else None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raw = [raw]
    photos = []
    state = _state(call)
    for i, entry in enumerate(raw):
        if isinstance(entry, str):
            try:
                entry = json.loads(entry)
            except ValueError:
                entry = {}
        fbid = str(entry.get("media_fbid", "")) if isinstance(entry, dict) else ""
        photo = state.photos.get(fbid)
        if photo is None or photo.page != page or photo.published or photo.attached_to:
            raise invalid_parameter(
                f"(#100) param attached_media[{i}] must be a valid media_fbid of an unpublished "
                "photo of this Page"
            )
        photos.append(photo)
    return photos


async def feed(call: GraphCall, values: dict[str, str]) -> Response:
    page = _page(call, values["page"], "post")
    call.require_permission(_no_permission())
    await fault(call, page, RATE)
    state = _state(call)
    message = call.arg("message") or ""
    link = call.arg("link")
    photos = _attached(call, page)
    if not message and not link and not photos:
        raise invalid_parameter("(#100) Missing message or attachment")
    if link is not None and not is_url(link):
        raise invalid_parameter("(#100) The parameter link must be a valid URL")
    _check_message(state, page, message)
    media = [{"type": "image", "url": p.url, "mime_type": p.mime, "id": p.id} for p in photos]
    kind = "added_photos" if photos else ("shared_story" if link else "mobile_status_update")
    post = _new_post(call, page, message, link, kind, media)
    for photo in photos:
        photo.attached_to = post.id
    if call.flag("published", True):
        _record(call, post, post.permalink)
    call.commit()
    body: dict[str, Any] = {"id": post.id}
    if "permalink_url" in call.fields(("id",)):
        body["permalink_url"] = post.permalink
    return call.json(body)


async def photos(call: GraphCall, values: dict[str, str]) -> Response:
    page = _page(call, values["page"], "post")
    call.require_permission(_no_permission())
    await fault(call, page, RATE)
    state = _state(call)
    url = call.arg("url")
    upload = call.files.get("source")
    if upload is not None:
        head = await upload.read(16)
        mime = "image/jpeg" if head.startswith(b"\xff\xd8") else (
            "image/png" if head.startswith(b"\x89PNG") else "application/octet-stream"
        )  # fmt: skip
        url = url or f"upload:{upload.filename}"
        ok = mime.startswith("image/")
    elif is_url(url):
        got = fetch(url)  # type: ignore[arg-type]
        mime, ok = got.mime, got.ok and got.kind == "image"
    else:
        raise GraphError(324, "(#324) Requires upload file")
    if not ok:
        raise GraphError(324, "(#324) Missing or invalid image file")
    published = call.flag("published", True)
    caption = call.arg("caption") or call.arg("message") or ""
    if published:
        _check_message(state, page, caption)
    photo = Photo(
        id=state.graph.next_id(call.now), page=page, url=url or "", mime=mime,
        published=published, created=call.now,
    )  # fmt: skip
    state.photos[photo.id] = photo
    call.commit()
    if not published:
        return call.json({"id": photo.id})
    media = [{"type": "image", "url": photo.url, "mime_type": mime, "id": photo.id}]
    post = _new_post(call, page, caption, None, "added_photos", media)
    photo.attached_to = post.id
    _record(call, post, post.permalink)
    return call.json({"id": photo.id, "post_id": post.id})


async def videos(call: GraphCall, values: dict[str, str]) -> Response:
    page = _page(call, values["page"], "post")
    call.require_permission(_no_permission())
    await fault(call, page, RATE)
    state = _state(call)
    url = call.arg("file_url")
    if not is_url(url):
        raise missing_parameter("file_url")
    got = fetch(url)  # type: ignore[arg-type]
    description = call.arg("description") or ""
    _check_message(state, page, description)
    video = Video(
        id=state.graph.next_id(call.now), page=page, url=url or "", description=description,
        created=call.now, ready_at=call.now + state.settings.meta_video_processing_seconds,
        error=not got.ok or got.kind != "video",
    )  # fmt: skip
    state.videos[video.id] = video
    state.videos_of[page].append(video.id)
    if not video.error and call.flag("published", True):
        name = state.name(page, _token_user(call))
        call.store.record_post(
            Post(
                platform=PLATFORM, account=page, id=video.id, text=description,
                media=[{"type": "video", "url": video.url, "mime_type": got.mime}],
                idempotency_key=None, received_at=call.now,
                url=f"https://www.facebook.com/{name}/videos/{video.id}/",
            )
        )  # fmt: skip
        call.sandbox.metrics.posts_accepted.labels(PLATFORM).inc()
    call.commit()
    return call.json({"id": video.id})


async def page_posts(call: GraphCall, values: dict[str, str]) -> Response:
    page = _page(call, values["page"])
    state = _state(call)
    fields = call.fields(("id", "message", "created_time"))
    items = [_post_json(call, state.posts[p], fields) for p in reversed(state.posts_of[page])]
    return call.json(paged(call, items, f"{page}/posts"))


async def page_videos(call: GraphCall, values: dict[str, str]) -> Response:
    page = _page(call, values["page"])
    state = _state(call)
    fields = call.fields(("id", "description", "updated_time"))
    items = [_video_json(call, state.videos[v], fields) for v in reversed(state.videos_of[page])]
    return call.json(paged(call, items, f"{page}/videos"))


async def insights(call: GraphCall, values: dict[str, str]) -> Response:
    state = _state(call)
    object_id = values["id"]
    post = state.posts.get(object_id)
    if post is None:
        if object_id in state.videos:
            raise nonexisting_field("insights", "Video")
        raise no_object(object_id)
    published = post.created
    metrics = metric_list(call)
    for i, name in enumerate(metrics):
        if name not in POST_METRICS:
            hint = " (deprecated)" if name in DEPRECATED_METRICS else ""
            raise invalid_parameter(
                f"(#100) The value must be a valid insights metric{hint}: metric[{i}]={name}"
            )
    now_values = post_insights(object_id, age(call.now, published))
    titles = {m: "Lifetime " + m.replace("_", " ") for m in POST_METRICS}
    return call.json(
        insights_body(object_id, {m: now_values[m] for m in metrics}, titles=titles)
    )


async def video_insights_edge(call: GraphCall, values: dict[str, str]) -> Response:
    state = _state(call)
    video_id = values["id"]
    video = state.videos.get(video_id)
    if video is None:
        if video_id in state.posts:
            raise nonexisting_field("video_insights", "Post")
        raise no_object(video_id)
    metrics = metric_list(call) if call.arg("metric") else list(VIDEO_METRICS)
    for i, name in enumerate(metrics):
        if name not in VIDEO_METRICS:
            raise invalid_parameter(f"(#100) The value must be a valid insights metric: metric[{i}]={name}")
    now_values = video_insights(video_id, age(call.now, video.created))
    body = insights_body(video_id, {m: now_values[m] for m in metrics}, titles=VIDEO_TITLES)
    for entry in body["data"]:
        entry["id"] = f"{video_id}/video_insights/{entry['name']}/lifetime"
    return call.json(body)


router = Router()
router.add("GET", "/me", me)
router.add("GET", "/debug_token", debug_token)
router.add("POST", "/{page}/feed", feed)
router.add("POST", "/{page}/photos", photos)
router.add("POST", "/{page}/videos", videos)
for _edge in ("feed", "posts", "published_posts"):
    router.add("GET", f"/{{page}}/{_edge}", page_posts)
router.add("GET", "/{page}/videos", page_videos)
router.add("GET", "/{id}/insights", insights)
router.add("GET", "/{id}/video_insights", video_insights_edge)
router.add("GET", "/{id}", node)

routes = graph_routes(PLATFORM, router, FacebookState, _account_of, RATE)

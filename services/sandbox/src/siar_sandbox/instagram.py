"""An imitation of Instagram's Graph API content publishing, mounted under ``/instagram``.

It answers both hosts' paths (graph.instagram.com with Instagram Login, graph.facebook.com with
Facebook Login), with or without a version prefix:

- ``GET /me``, ``GET /{ig-user-id}`` (``username``, ``name``, ``followers_count``, …);
- ``POST /{ig-user-id}/media``: a container from ``image_url`` (IMAGE), ``media_type=REELS`` +
  ``video_url``, ``media_type=STORIES``, carousel items (``is_carousel_item=true``, images or
  ``media_type=VIDEO``) and ``media_type=CAROUSEL`` + ``children`` (2-10);
- ``GET /{container-id}?fields=status_code,status``: IN_PROGRESS (images for
  ``meta_image_processing_seconds``, videos for ``meta_video_processing_seconds``) -> FINISHED or
  ERROR; EXPIRED 24 hours after creation if unpublished; PUBLISHED once published;
- ``POST /{ig-user-id}/media_publish?creation_id=``: the media id; the post is recorded;
- ``GET /{ig-user-id}/media``, ``GET /{media-id}`` (``permalink``, ``caption``, ``timestamp``);
- ``GET /{ig-user-id}/content_publishing_limit`` (100 per rolling 24 h unless the control API
  sets the ``publishing`` limit), ``GET /{media-id}/insights`` (views, reach, saved, likes,
  comments, shares, total_interactions, growing with the time since publication; a post whose
  caption contains ``SANDBOX_FEW_VIEWERS`` answers ``(#10) Not enough viewers for the media to
  show insights``, as Instagram does for a post few people saw, platforms.md);
- ``GET /refresh_access_token?grant_type=ig_refresh_token``, ``GET /debug_token``.

Errors (shape and codes: graph.py; codes from platforms.md and gitroomhq/postiz-app's Instagram
provider): caption over 2,200 characters or 30 hashtags 100/2207010; an image that is not a JPEG
9004/2207005; a media URL that cannot be downloaded 9004/2207052 (images, at once) or a video
container in ERROR with 2207077 (a URL that is not a video: 2207026); publishing before FINISHED
9007/2207027, an ERROR container 9007/2207032, an EXPIRED one 9007/2207008; the daily maximum
9/2207042; a caption containing ``SANDBOX_SPAM`` 4/2207051 (suspected spam); rate limits (injected 429 or the
``calls`` limit) 4 with X-App-Usage and X-Business-Use-Case-Usage. An IG user id starting with
``0`` does not exist (100/33)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from . import postmetrics as engagement
from .graph import (
    CONTAINER_LIFETIME,
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
from .store import Post, stable_number

PLATFORM = "instagram"
CAPTION_LIMIT = 2_200
HASHTAG_LIMIT = 30
CAROUSEL_MIN, CAROUSEL_MAX = 2, 10
SPAM_MARKER = "SANDBOX_SPAM"
FEW_VIEWERS_MARKER = "SANDBOX_FEW_VIEWERS"
SCOPES = ("instagram_business_basic", "instagram_business_content_publish",
          "instagram_business_manage_insights")  # fmt: skip
RATE = RateLimitShape(4, "(#4) Application request limit reached", "instagram")
MEDIA_METRICS = ("views", "reach", "saved", "likes", "comments", "shares", "total_interactions")
DEPRECATED_METRICS = ("impressions", "plays", "video_views", "clips_replays_count")


def user_id(username: str) -> str:
    """The IG user id of the account a token names (``library.secret`` -> ``library``)."""
    return numeric_id(17841, username, 12)


@dataclass
class Media:
    id: str
    owner: str
    caption: str
    media_type: str  # IMAGE VIDEO CAROUSEL_ALBUM
    product: str  # FEED REELS STORY
    timestamp: float
    permalink: str
    container: str
    children: list[str] = field(default_factory=list)


class InstagramState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.graph = GraphState(PLATFORM, token_lifetime=LONG_LIVED_SECONDS, scopes=SCOPES)
        self.containers: dict[str, Container] = {}
        self.media: dict[str, Media] = {}
        self.media_of: dict[str, list[str]] = defaultdict(list)  # owner -> media ids, oldest first
        self.published: dict[str, list[float]] = defaultdict(list)  # owner -> publish times

    def username(self, owner: str, token_user: str | None) -> str:
        if token_user is not None and user_id(token_user) == owner:
            return token_user
        return f"perpus_{owner[-5:]}"


def media_insights(media_id: str, age_seconds: float) -> dict[str, int]:
    """Every media metric ``age_seconds`` after publication (what tests predict)."""
    views = engagement.grown(media_id, "views", age_seconds, 200, 5_000)
    reach = views * (55 + stable_number(f"{media_id}:reach", 30)) // 100
    likes = engagement.grown(media_id, "likes", age_seconds, 10, 400)
    comments = engagement.grown(media_id, "comments", age_seconds, 0, 40)
    saved = engagement.grown(media_id, "saved", age_seconds, 0, 60)
    shares = engagement.grown(media_id, "shares", age_seconds, 0, 50)
    return {
        "views": views, "reach": reach, "saved": saved, "likes": likes, "comments": comments,
        "shares": shares, "total_interactions": likes + comments + saved + shares,
    }  # fmt: skip


def followers_count(owner: str, posts: int) -> int:
    return engagement.followers(owner, 100, 5_000, posts)


# --------------------------------------------------------------------------- helpers


def _state(call: GraphCall) -> InstagramState:
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
    if node and node.isdigit() and not node.startswith("0"):
        container = _state(call).containers.get(node)
        media = _state(call).media.get(node)
        if container is not None:
            return container.owner
        if media is not None:
            return media.owner
        return node
    return user_id(call.user) if call.token is not None else "anonymous"


def _no_permission() -> GraphError:
    return GraphError(10, "(#10) Application does not have permission for this action",
                      status=403)  # fmt: skip


def _user_json(call: GraphCall, owner: str, fields: list[str]) -> dict[str, Any]:
    state = _state(call)
    username = state.username(owner, _token_user(call))
    posts = len(state.media_of.get(owner, ()))
    known = {
        "id": owner,
        "user_id": owner,
        "username": username,
        "name": username.replace("_", " ").title(),
        "account_type": "BUSINESS",
        "profile_picture_url": f"https://scontent.cdninstagram.com/v/{owner}/profile.jpg",
        "followers_count": followers_count(owner, posts),
        "follows_count": 10 + stable_number(f"follows:{owner}", 290),
        "media_count": 20 + stable_number(f"media:{owner}", 200) + posts,
        "biography": "Perpustakaan umum",
    }
    body = {name: known[name] for name in fields if name in known}
    body.setdefault("id", owner)
    return body


def _container_json(call: GraphCall, container: Container, fields: list[str]) -> dict[str, Any]:
    state = _state(call)
    status_code = container.status(call.now, state.containers.get)
    texts = {
        "IN_PROGRESS": "In Progress: Media is still being processed.",
        "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
        "PUBLISHED": "Published: Media has been successfully published.",
        "EXPIRED": "Expired: Media container was not published within 24 hours.",
    }
    error = container.error or container.failed_child(call.now, state.containers.get)
    known = {
        "id": container.id,
        "status_code": status_code,
        "status": error if status_code == "ERROR" and error else texts.get(status_code, ""),
        "media_type": container.media_type,
    }
    body = {name: known[name] for name in fields if name in known}
    body.setdefault("id", container.id)
    return body


def _media_json(call: GraphCall, media: Media, fields: list[str]) -> dict[str, Any]:
    state = _state(call)
    known = {
        "id": media.id,
        "caption": media.caption,
        "media_type": media.media_type,
        "media_product_type": media.product,
        "permalink": media.permalink,
        "shortcode": shortcode(media.id),
        "timestamp": graph_time(media.timestamp),
        "username": state.username(media.owner, _token_user(call)),
        "like_count": media_insights(media.id, age(call.now, media.timestamp))["likes"],
        "comments_count": media_insights(media.id, age(call.now, media.timestamp))["comments"],
        "owner": {"id": media.owner},
    }
    if media.children:
        known["children"] = {"data": [{"id": c} for c in media.children]}
    body = {name: known[name] for name in fields if name in known}
    body.setdefault("id", media.id)
    return body


def _error_status(subcode: int) -> str:
    return f"Error: Media upload has failed with error code {subcode}"


# --------------------------------------------------------------------------- endpoints


async def me(call: GraphCall, values: dict[str, str]) -> Response:
    return call.json(_user_json(call, user_id(call.user), call.fields(("id", "username"))))


async def node(call: GraphCall, values: dict[str, str]) -> Response:
    state = _state(call)
    object_id = values["id"]
    container = state.containers.get(object_id)
    if container is not None:
        return call.json(_container_json(call, container, call.fields(("id",))))
    media = state.media.get(object_id)
    if media is not None:
        fields = call.fields(("id",))
        return call.json(_media_json(call, media, fields))
    owner = _account(call, object_id)
    return call.json(_user_json(call, owner, call.fields(("id",))))


async def create_container(call: GraphCall, values: dict[str, str]) -> Response:
    owner = _account(call, values["owner"], "post")
    call.require_permission(_no_permission())
    await fault(call, owner, RATE)
    state = _state(call)
    settings = state.settings
    media_type = (call.arg("media_type") or "").strip().upper()
    item = call.flag("is_carousel_item")
    caption = call.arg("caption") or ""
    image_url = call.arg("image_url")
    video_url = call.arg("video_url")
    children: list[str] = []
    media: list[dict[str, Any]] = []
    error: str | None = None
    delay = settings.meta_image_processing_seconds

    if not media_type:
        if video_url:
            raise invalid_parameter(
                "(#100) The parameter media_type is required for a video: REELS or STORIES",
                subcode=2207023, user_title="Unknown media type",
                user_msg="The media type for a video must be REELS, STORIES or, in a carousel, VIDEO.",
            )  # fmt: skip
        media_type = "IMAGE"
    if media_type not in ("IMAGE", "VIDEO", "REELS", "STORIES", "CAROUSEL"):
        raise invalid_parameter(
            "(#100) media_type must be one of IMAGE, VIDEO, REELS, STORIES, CAROUSEL",
            subcode=2207023, user_title="Unknown media type",
            user_msg="The media type is unknown.",
        )  # fmt: skip
    if media_type == "VIDEO" and not item:
        raise invalid_parameter(
            "(#100) The VIDEO media type is only supported for carousel items; use REELS",
            subcode=2207023, user_title="Unknown media type",
            user_msg="Single videos are published as Reels: use media_type=REELS.",
        )  # fmt: skip
    if not item and media_type != "STORIES":
        if len(caption) > CAPTION_LIMIT:
            raise invalid_parameter(
                "Invalid parameter", subcode=2207010, user_title="Caption too long",
                user_msg=f"The caption can have at most {CAPTION_LIMIT} characters.",
            )  # fmt: skip
        if caption.count("#") > HASHTAG_LIMIT:
            raise invalid_parameter(
                "Invalid parameter", subcode=2207010, user_title="Too many hashtags",
                user_msg=f"The caption can have at most {HASHTAG_LIMIT} hashtags.",
            )  # fmt: skip

    if media_type == "CAROUSEL":
        raw = call.structured("children")
        if isinstance(raw, list):
            children = [str(c).strip() for c in raw if str(c).strip()]
        elif raw:
            children = [c.strip() for c in str(raw).split(",") if c.strip()]
        if not CAROUSEL_MIN <= len(children) <= CAROUSEL_MAX:
            raise invalid_parameter(
                "Invalid parameter", subcode=2207028, user_title="Carousel validation failed",
                user_msg="The carousel has too little or too many attachments: it takes 2 to 10.",
            )  # fmt: skip
        for child in children:
            found = state.containers.get(child)
            if found is None or found.owner != owner or not found.is_carousel_item:
                raise invalid_parameter(
                    f"(#100) Param children[{children.index(child)}] is not a carousel item "
                    "container of this user", subcode=2207028,
                    user_title="Carousel validation failed",
                    user_msg="Every child must be a carousel item created by this account.",
                )  # fmt: skip
            media.extend(found.media)
    elif media_type in ("IMAGE",) or (media_type == "STORIES" and image_url and not video_url):
        if not is_url(image_url):
            raise missing_parameter("image_url")
        got = fetch(image_url)  # type: ignore[arg-type]
        if not got.ok:
            raise GraphError(
                9004, "The media could not be fetched from this uri", subcode=2207052,
                user_title="Media download has failed",
                user_msg=f"The media could not be fetched from this URI: {image_url}",
            )  # fmt: skip
        if got.mime != "image/jpeg":
            raise GraphError(
                9004, "Only photo or video can be accepted as media type.", subcode=2207005,
                user_title="Unsupported format",
                user_msg="The image format is not supported. Supported formats are: JPEG",
            )  # fmt: skip
        media.append({"type": "image", "url": image_url, "mime_type": got.mime})
    else:  # REELS, STORIES with a video, VIDEO carousel items
        if not is_url(video_url):
            raise missing_parameter("video_url")
        got = fetch(video_url)  # type: ignore[arg-type]
        delay = settings.meta_video_processing_seconds
        if not got.ok:
            error = _error_status(2207077)
        elif got.kind != "video":
            error = _error_status(2207026)
        media.append({"type": "video", "url": video_url, "mime_type": got.mime})

    call.now = call.store.now()  # processing starts once the media is fetched
    container = Container(
        id=state.graph.next_id(call.now), owner=owner, media_type=media_type,
        text="" if item else caption, media=media, children=children, is_carousel_item=item,
        created_at=call.now, ready_at=call.now + delay, error=error,
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
    if status == "IN_PROGRESS":
        raise GraphError(
            9007, "Media ID is not available", subcode=2207027, is_transient=False,
            user_title="Media Not Ready For Publishing",
            user_msg="The media is not ready for publishing, please wait for a moment",
        )  # fmt: skip
    if status == "ERROR":
        raise GraphError(
            9007, "Media ID is not available", subcode=2207032, is_transient=False,
            user_title="Create media failed", user_msg="Failed to create media, please try again.",
        )  # fmt: skip
    if status == "EXPIRED":
        raise GraphError(
            9007, "Media ID is not available", subcode=2207008, is_transient=False,
            user_title="Media builder expired",
            user_msg=f"The container was not published within {CONTAINER_LIFETIME // 3600} hours.",
        )  # fmt: skip
    if status == "PUBLISHED":
        raise GraphError(
            9007, "Media ID is not available", subcode=2207006, is_transient=False,
            user_title="Media not found", user_msg="This container has already been published.",
        )  # fmt: skip
    if SPAM_MARKER in container.text:
        # Meta's error-code table: code 4, subcode 2207051, "suspected to be spam".
        raise GraphError(
            4, "We restrict certain activity to protect our community. Tell us if you think we "
            "made a mistake.", subcode=2207051, is_transient=False, user_title="Action blocked",
            user_msg="We restrict certain activity to protect our community. Tell us if you think "
            "we made a mistake.",
        )  # fmt: skip
    times = state.published[owner]
    used, total, _ = quota_usage(call.store, PLATFORM, times, call.now)
    if used >= total:
        raise GraphError(
            9, "Application request limit reached", subcode=2207042, status=403,
            is_transient=False, user_title="Max posts reached",
            user_msg="You reached maximum number of posts that is allowed to be published by "
            "Content Publishing API.",
        )  # fmt: skip
    media_id = state.graph.next_id(call.now)
    kind = {"CAROUSEL": "CAROUSEL_ALBUM", "REELS": "VIDEO", "STORIES": "VIDEO"}.get(
        container.media_type, container.media_type
    )
    if container.media_type == "STORIES" and container.media[0]["type"] == "image":
        kind = "IMAGE"
    product = {"REELS": "REELS", "STORIES": "STORY"}.get(container.media_type, "FEED")
    path = "reel" if product == "REELS" else "p"
    media = Media(
        id=media_id, owner=owner, caption=container.text, media_type=kind, product=product,
        timestamp=call.now, permalink=f"https://www.instagram.com/{path}/{shortcode(media_id)}/",
        container=container.id, children=[],
    )  # fmt: skip
    for child_id in container.children:
        child = state.containers[child_id]
        child_media = state.graph.next_id(call.now)
        child.published_id = child_media
        child.published_at = call.now
        media.children.append(child_media)
    state.media[media_id] = media
    state.media_of[owner].append(media_id)
    container.published_id = media_id
    container.published_at = call.now
    times.append(call.now)
    call.store.record_post(
        Post(
            platform=PLATFORM, account=owner, id=media_id, text=container.text,
            media=[dict(m) for m in container.media], idempotency_key=None,
            received_at=call.now, url=media.permalink,
        )
    )  # fmt: skip
    call.sandbox.metrics.posts_accepted.labels(PLATFORM).inc()
    call.commit()
    return call.json({"id": media_id})


async def media_list(call: GraphCall, values: dict[str, str]) -> Response:
    owner = _account(call, values["owner"])
    state = _state(call)
    fields = call.fields(("id",))
    items = [
        _media_json(call, state.media[m], fields) for m in reversed(state.media_of.get(owner, []))
    ]
    return call.json(paged(call, items, f"{owner}/media"))


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
    return call.json({"data": [entry]})


async def insights(call: GraphCall, values: dict[str, str]) -> Response:
    state = _state(call)
    media = state.media.get(values["id"])
    if media is None:
        if values["id"] in state.containers:
            raise no_object(values["id"])
        owner = _account(call, values["id"])
        return await _user_insights(call, owner)
    metrics = metric_list(call)
    if FEW_VIEWERS_MARKER in media.caption:
        raise GraphError(10, "(#10) Not enough viewers for the media to show insights")
    for i, name in enumerate(metrics):
        if name not in MEDIA_METRICS:
            hint = " (deprecated; use views)" if name in DEPRECATED_METRICS else ""
            raise invalid_parameter(
                f"(#100) metric[{i}] must be one of the following values: "
                f"{', '.join(MEDIA_METRICS)}{hint}"
            )
    values_now = media_insights(media.id, age(call.now, media.timestamp))
    titles = {m: m.replace("_", " ").capitalize() for m in MEDIA_METRICS}
    return call.json(insights_body(media.id, {m: values_now[m] for m in metrics}, titles=titles))


async def _user_insights(call: GraphCall, owner: str) -> Response:
    metrics = metric_list(call)
    posts = len(_state(call).media_of.get(owner, ()))
    known = {"follower_count": followers_count(owner, posts)}
    for i, name in enumerate(metrics):
        if name not in known:
            raise invalid_parameter(
                f"(#100) metric[{i}] must be one of the following values: follower_count"
            )
    return call.json(
        insights_body(owner, {m: known[m] for m in metrics}, period="day", total_value=True)
    )


async def refresh_access_token(call: GraphCall, values: dict[str, str]) -> Response:
    if call.arg("grant_type") != "ig_refresh_token":
        raise invalid_parameter("(#100) grant_type must be ig_refresh_token")
    assert call.token is not None
    issued = _state(call).graph.issue(call.token.user, call.now, LONG_LIVED_SECONDS)
    return call.json(
        {"access_token": issued.token, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}
    )


async def debug_token(call: GraphCall, values: dict[str, str]) -> Response:
    return call.json(
        debug_token_body(call, _state(call).graph, "Siar Sandbox (Instagram)", user_id)
    )


router = Router()
router.add("GET", "/me", me)
router.add("GET", "/refresh_access_token", refresh_access_token)
router.add("GET", "/debug_token", debug_token)
router.add("GET", "/{owner}/media", media_list)
router.add("POST", "/{owner}/media", create_container)
router.add("POST", "/{owner}/media_publish", publish)
router.add("GET", "/{owner}/content_publishing_limit", publishing_limit)
router.add("GET", "/{id:id}/insights", insights)
router.add("GET", "/{id:id}", node)

routes = graph_routes(PLATFORM, router, InstagramState, _account_of, RATE)

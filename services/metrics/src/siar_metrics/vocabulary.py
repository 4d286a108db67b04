"""One vocabulary for every platform's metrics, and the table that maps each platform's own
names onto it (shared/platforms.md, item 6 of each platform).

A raw name maps to at most one normalised name; several raw names may map to the same one and are
added up (X's retweets and quotes are both shares). A raw name that has no place in the
vocabulary (Instagram's ``total_interactions``, itself a sum; YouTube's ``videoCount``) maps to
``None``: it is kept as a raw sample but counts towards nothing. A name a table does not list is
kept the same way, so a platform that adds a metric never loses data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Metric = Literal["views", "reach", "likes", "comments", "shares", "saves", "clicks", "followers"]
VOCABULARY: tuple[Metric, ...] = ("views", "reach", "likes", "comments", "shares", "saves", "clicks", "followers")
POST_METRICS: tuple[Metric, ...] = VOCABULARY[:-1]

# platform -> raw name -> normalised name (None: kept raw, counts towards nothing)
POST: dict[str, dict[str, Metric | None]] = {
    "facebook": {  # /{post_id}/insights, plus the post's comments.summary and shares fields
        "post_total_media_view_unique": "reach",
        "post_media_view": "views",
        "post_reactions_by_type_total": "likes",  # summed over reaction types by the adapter
        "post_clicks": "clicks",
        "comments": "comments",
        "shares": "shares",
        # a video (a bare id) has no /insights edge: /{video_id}/video_insights
        "total_video_views": "views",
        "total_video_views_unique": "reach",
        "total_video_reactions_by_type_total": "likes",  # summed over reaction types by the adapter
    },
    "instagram": {  # /{media}/insights
        "views": "views",
        "reach": "reach",
        "likes": "likes",
        "comments": "comments",
        "shares": "shares",
        "saved": "saves",
        "total_interactions": None,  # a sum of the others
    },
    "threads": {  # /{media}/insights
        "views": "views",
        "likes": "likes",
        "replies": "comments",
        "reposts": "shares",
        "quotes": "shares",
        "shares": "shares",
    },
    "x": {  # public_metrics, non_public_metrics
        "impression_count": "views",
        "like_count": "likes",
        "reply_count": "comments",
        "retweet_count": "shares",
        "quote_count": "shares",
        "bookmark_count": "saves",
        "url_link_clicks": "clicks",
        "user_profile_clicks": None,
    },
    "youtube": {  # video statistics
        "viewCount": "views",
        "likeCount": "likes",
        "commentCount": "comments",
        "favoriteCount": None,  # deprecated, always 0
    },
    "tiktok": {  # /v2/video/query/
        "view_count": "views",
        "like_count": "likes",
        "comment_count": "comments",
        "share_count": "shares",
    },
    "telegram": {},  # the Bot API offers no per-message views
    "whatsapp": {},  # no engagement metrics
    "mastodon": {  # GET /api/v1/statuses/:id
        "favourites_count": "likes",
        "reblogs_count": "shares",
        "quotes_count": "shares",
        "replies_count": "comments",
    },
    "bluesky": {  # app.bsky.feed.getPosts
        "likeCount": "likes",
        "repostCount": "shares",
        "quoteCount": "shares",
        "replyCount": "comments",
        "bookmarkCount": "saves",
    },
    "linkedin": {  # organizationalEntityShareStatistics.totalShareStatistics
        "impressionCount": "views",
        "uniqueImpressionsCount": "reach",
        "clickCount": "clicks",
        "likeCount": "likes",
        "commentCount": "comments",
        "shareCount": "shares",
        "engagement": None,  # LinkedIn's own rate, not Siar's
    },
}

ACCOUNT: dict[str, dict[str, Metric | None]] = {
    "facebook": {"followers_count": "followers", "page_daily_follows": None},
    "instagram": {"followers_count": "followers", "media_count": None},
    "threads": {"followers_count": "followers"},
    "x": {"followers_count": "followers", "following_count": None, "tweet_count": None},
    "youtube": {"subscriberCount": "followers", "viewCount": None, "videoCount": None, "hiddenSubscriberCount": None},
    "tiktok": {"follower_count": "followers", "likes_count": None, "video_count": None},
    "telegram": {"member_count": "followers"},  # getChatMemberCount
    "whatsapp": {},
    "mastodon": {"followers_count": "followers", "following_count": None, "statuses_count": None},
    "bluesky": {"followersCount": "followers", "postsCount": None},
    "linkedin": {"firstDegreeSize": "followers"},
}

PLATFORMS = tuple(POST)

# The same tables as four columns (kind, platform, raw name, normalised name), for the statement
# that stores samples with their normalised name (siar_metrics.store.store_collected).
VOCABULARY_COLUMNS: tuple[list[str | None], ...] = tuple(map(list, zip(*(
    (kind, platform, raw, metric)
    for kind, tables in (("post", POST), ("account", ACCOUNT))
    for platform, names in tables.items()
    for raw, metric in names.items()
), strict=True)))


def table(kind: str, platform: str) -> Mapping[str, Metric | None]:
    return (POST if kind == "post" else ACCOUNT).get(platform, {})


def has_post_insights(platform: str) -> bool:
    """Whether a published post is worth asking about: Telegram and WhatsApp answer nothing.
    A platform this table does not know yet is asked (its raw numbers are kept)."""
    return platform not in POST or bool(POST[platform])


def normalise(kind: str, platform: str, raw: Mapping[str, float]) -> dict[Metric, float]:
    """The vocabulary's values for one answer: each raw value under its normalised name, added up
    where several raw names share one."""
    mapping = table(kind, platform)
    values: dict[Metric, float] = {}
    for name, value in raw.items():
        metric = mapping.get(name)
        if metric is not None:
            values[metric] = values.get(metric, 0) + value
    return values

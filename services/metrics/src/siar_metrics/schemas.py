"""Bodies of the metrics service's HTTP API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Basis = Literal["reach", "views", "followers"]


class Values(BaseModel):
    """Counts in Siar's vocabulary; null where the platform does not report the metric."""

    views: float | None = None
    reach: float | None = None
    likes: float | None = None
    comments: float | None = None
    shares: float | None = None
    saves: float | None = None
    clicks: float | None = None


class Engagement(BaseModel):
    interactions: float = Field(description="likes + comments + shares + saves")
    engagement_rate: float | None = Field(description="interactions / denominator (a fraction: 0.05 is 5 %)")
    engagement_basis: Basis | None = Field(description="The denominator used: reach, else views, else followers then")
    denominator: float | None = None


class Period(BaseModel):
    start: datetime
    end: datetime


class TopPost(Values, Engagement):
    rank: int
    post_id: str
    target_id: str
    account_id: str
    handle: str | None = Field(default=None, description="The account's handle (null until its account.* event)")
    platform: str
    url: str | None
    text: str | None = Field(description="The post's text (null until the post's post.scheduled has been seen)")
    hashtags: list[str]
    campaign_id: str | None
    published_at: datetime
    collected_at: datetime = Field(description="When the counts were read")
    stage: str = Field(description="The reading used: the schedule step (1h, 1d, …)")


class TopPosts(BaseModel):
    period: Period
    order_by: str
    stage: str | None = Field(description="Only readings of this step, or null for each post's latest")
    posts: list[TopPost]


class Group(Values, Engagement):
    key: str | None = Field(description="The campaign id, hashtag, platform or account id (null: no campaign)")
    label: str | None = Field(default=None, description="The account's handle; a campaign's hashtags")
    posts: int = Field(description="Posts with at least one reading")
    targets: int = Field(description="Post × platform pairs with at least one reading")
    denominators: dict[str, int] = Field(description="How many targets' rates used each denominator (none: no rate)")


class Performance(BaseModel):
    period: Period
    group_by: Literal["campaign", "hashtag", "platform", "account"]
    stage: str | None
    groups: list[Group]


class AudiencePoint(BaseModel):
    day: date = Field(description="A day in the library's time zone")
    followers: float
    collected_at: datetime


class AccountGrowth(BaseModel):
    account_id: str
    platform: str
    handle: str | None
    start_followers: float | None
    end_followers: float | None
    change: float | None
    change_percent: float | None
    series: list[AudiencePoint] = Field(description="The last reading of each day")


class AudienceGrowth(BaseModel):
    period: Period
    timezone: str
    accounts: list[AccountGrowth]


class HourCell(BaseModel):
    day_of_week: int = Field(ge=1, le=7, description="1 Monday … 7 Sunday, in the library's time zone")
    hour: int = Field(ge=0, le=23)
    posts: int = Field(description="Posts published in this hour (one post sent to several platforms counts once)")
    targets: int = Field(description="Of those, the platform posts: each post once per account it went to")
    mean_interactions: float | None = Field(description="Interactions per platform post")
    engagement_rate: float | None


class BestHours(BaseModel):
    period: Period
    timezone: str
    stage: str | None
    cells: list[HourCell] = Field(description="Only the hours with posts")
    grid: list[list[float | None]] = Field(description="7 × 24 engagement rates: grid[day_of_week - 1][hour]")
    best: list[HourCell] = Field(description="The best hours by engagement rate (at least min_posts posts each)")


class Reading(Values, Engagement):
    request_id: str
    stage: str
    state: Literal["planned", "requested", "collected", "failed"]
    planned_at: datetime
    collected_at: datetime | None
    attempts: int
    error_class: str | None
    reason: str | None
    followers: float | None = Field(default=None, description="The account's followers when it was read")
    raw: dict[str, float] = Field(default_factory=dict, description="The platform's own metric names and values")


class TargetEngagement(BaseModel):
    target_id: str
    account_id: str
    handle: str | None = Field(default=None, description="The account's handle (null until its account.* event)")
    platform: str
    platform_post_id: str
    url: str | None
    published_at: datetime
    readings: list[Reading]


class PostEngagement(BaseModel):
    post_id: str
    text: str | None
    hashtags: list[str]
    campaign_id: str | None
    targets: list[TargetEngagement]


class Collection(BaseModel):
    request_id: str
    kind: Literal["post", "account"]
    stage: str
    state: str
    account_id: str
    handle: str | None = Field(default=None, description="The account's handle, where an account.* event gave it")
    platform: str
    target_id: str | None
    planned_at: datetime
    due_at: datetime
    attempts: int
    error_class: str | None
    reason: str | None


class CollectionList(BaseModel):
    collections: list[Collection]

"""The metrics service's HTTP API: reports as JSON or CSV (``?format=csv``), a post's readings,
and the collections (OpenAPI at /docs and /openapi.json)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response
from siar_runtime import zones
from siar_runtime.auth import Caller
from siar_runtime.problems import TYPE_BASE, Problem

from . import reports, store
from .schemas import (
    AudienceGrowth,
    BestHours,
    Collection,
    CollectionList,
    Performance,
    Period,
    PostEngagement,
    Reading,
    TargetEngagement,
    TopPosts,
)

PROBLEM = {"content": {"application/problem+json": {}}}
ERRORS = {401: PROBLEM, 404: PROBLEM, 422: PROBLEM}
FIRST_YEAR, LAST_YEAR = 1970, 9998  # a report's period: well inside what datetime and PostgreSQL hold
CSV = "text/csv; charset=utf-8"
Format = Literal["json", "csv"]
Order = Literal["engagement_rate", "interactions", "views", "reach", "likes", "comments", "shares", "saves", "clicks"]


CSV_TOO = {200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                 "description": "The report as JSON, or with format=csv as CSV (UTF-8 with a BOM)"}}


def _csv(body: str, name: str) -> Response:
    return Response(body, media_type=CSV, headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def router(auth, timezone: str) -> APIRouter:
    api = APIRouter(prefix="/v1", responses=ERRORS)
    CallerDep = Annotated[Caller, Depends(auth)]

    def pool(request: Request) -> asyncpg.Pool:
        return request.app.state.db.pool

    Pool = Annotated[asyncpg.Pool, Depends(pool)]

    def period(
        start: Annotated[str | None, Query(alias="from", max_length=64, description="Inclusive; default 30 days "
                                           "ago. A day (2026-11-01, its midnight) or a time; without an offset, "
                                           "the library's local time")] = None,
        end: Annotated[str | None, Query(alias="to", max_length=64, description="Default now. A day (2026-11-30: "
                                         "up to the end of that day) or a time (exclusive); without an offset, "
                                         "the library's local time")] = None,
    ) -> Period:
        # As the library writes a day: from=2026-11-01 is its midnight in SIAR_TIMEZONE, not UTC's,
        # and to=2026-11-30 takes the 30th in.
        found: list[datetime | None] = []
        for name, text, is_end in (("from", start, False), ("to", end, True)):
            try:
                value = None if text is None else zones.query_instant(text, timezone, end=is_end)
            except ValueError as exc:
                raise Problem(422, "Invalid request", f"'{name}': {exc}", type_=TYPE_BASE + "validation") from exc
            # Year 1 or 9999 overflowed a 500 out of the default window or the shift to UTC.
            if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
                raise Problem(422, "Invalid request", f"'{name}' must be in the years {FIRST_YEAR}-{LAST_YEAR}",
                              type_=TYPE_BASE + "validation")
            found.append(value)
        lo, hi = found
        hi = hi or datetime.now(UTC)
        lo = lo or hi - timedelta(days=30)
        if hi <= lo:
            raise Problem(422, "Invalid request", "'to' must be after 'from'", type_=TYPE_BASE + "validation")
        return Period(start=lo, end=hi)

    PeriodDep = Annotated[Period, Depends(period)]
    Platform = Annotated[str | None, Query(max_length=40, description="Only this platform")]
    Stage = Annotated[str | None, Query(max_length=20, description="Each post's reading at this step of the "
                                        "schedule (1h, 1d, …) instead of its latest, to compare posts at the same age")]

    @api.get("/reports/top-posts", response_model=TopPosts, tags=["reports"], responses=CSV_TOO,
             summary="The posts (per platform) with the most engagement, published in a period")
    async def top_posts(
        caller: CallerDep, db: Pool, when: PeriodDep, platform: Platform = None, stage: Stage = None,
        order_by: Order = "engagement_rate", limit: Annotated[int, Query(ge=1, le=500)] = 10, format: Format = "json",
    ):
        async with db.acquire() as conn:
            report = await reports.top_posts(conn, when, platform=platform, stage=stage, order_by=order_by, limit=limit)
        return _csv(reports.top_posts_csv(report, timezone), "top-posts") if format == "csv" else report

    @api.get("/reports/performance", response_model=Performance, tags=["reports"],
             responses=CSV_TOO,
             summary="Engagement per campaign, hashtag, platform or account, for posts published in a period")
    async def performance(
        caller: CallerDep, db: Pool, when: PeriodDep,
        group_by: Literal["campaign", "hashtag", "platform", "account"] = "campaign",
        platform: Platform = None, stage: Stage = None, format: Format = "json",
    ):
        async with db.acquire() as conn:
            report = await reports.performance(conn, when, group_by=group_by, platform=platform, stage=stage)
        return _csv(reports.performance_csv(report), f"performance-{group_by}") if format == "csv" else report

    @api.get("/reports/audience", response_model=AudienceGrowth, tags=["reports"],
             responses=CSV_TOO,
             summary="Followers per account over a period, one point per day in the library's time zone")
    async def audience(
        caller: CallerDep, db: Pool, when: PeriodDep, platform: Platform = None,
        account_id: Annotated[str | None, Query(max_length=100)] = None, format: Format = "json",
    ):
        async with db.acquire() as conn:
            report = await reports.audience(conn, when, timezone=timezone, platform=platform, account_id=account_id)
        return _csv(reports.audience_csv(report, timezone), "audience") if format == "csv" else report

    @api.get("/reports/best-hours", response_model=BestHours, tags=["reports"], responses=CSV_TOO,
             summary="Engagement by day of week and hour of publication, in the library's time zone")
    async def best_hours(
        caller: CallerDep, db: Pool, when: PeriodDep, platform: Platform = None, stage: Stage = None,
        min_posts: Annotated[int, Query(ge=1, description="Hours with fewer posts are not ranked")] = 1,
        format: Format = "json",
    ):
        async with db.acquire() as conn:
            report = await reports.best_hours(conn, when, timezone=timezone, platform=platform, stage=stage,
                                              min_posts=min_posts)
        return _csv(reports.best_hours_csv(report), "best-hours") if format == "csv" else report

    @api.get("/posts/{post_id}/engagement", response_model=PostEngagement, tags=["posts"],
             summary="Every reading of a post on each platform, normalised and raw")
    async def post_engagement(post_id: str, caller: CallerDep, db: Pool) -> PostEngagement:
        async with db.acquire() as conn:
            post, rows = await store.post_engagement(conn, post_id)
        if not rows:
            raise Problem(404, "Not found", f"no published post {post_id} is followed", type_=TYPE_BASE + "not-found")
        targets: dict[str, TargetEngagement] = {}
        for r in rows:
            target = targets.get(r["target_id"])
            if target is None:
                target = targets[r["target_id"]] = TargetEngagement(
                    target_id=r["target_id"], account_id=r["account_id"], handle=r["handle"], platform=r["platform"],
                    platform_post_id=r["platform_post_id"], url=r["url"], published_at=r["published_at"], readings=[])
            if r["request_id"] is None:
                continue
            target.readings.append(Reading(
                request_id=str(r["request_id"]), stage=r["stage"], state=r["state"], planned_at=r["planned_at"],
                collected_at=r["collected_at"], attempts=r["attempts"], error_class=r["error_class"],
                reason=r["reason"], followers=r["followers"], raw=r["raw"], interactions=r["interactions"] or 0,
                denominator=r["denominator"], engagement_basis=r["basis"],
                engagement_rate=r["interactions"] / r["denominator"] if r["denominator"] else None,
                **{name: r[name] for name in store.POST_VALUES},
            ))
        return PostEngagement(
            post_id=post_id, text=post["text"] if post else None, hashtags=list(post["hashtags"]) if post else [],
            campaign_id=post["campaign_id"] if post else None, targets=list(targets.values()),
        )

    @api.get("/collections", response_model=CollectionList, tags=["collections"],
             summary="Readings still to take (planned, waiting for an answer) and failed ones, most recently changed "
                     "first: why a number is missing")
    async def collections(
        caller: CallerDep, db: Pool,
        state: Literal["planned", "requested", "failed"] | None = None,
        kind: Literal["post", "account"] | None = None, platform: Platform = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> CollectionList:
        async with db.acquire() as conn:
            rows = await store.list_collections(conn, state, kind, platform, limit)
        return CollectionList(collections=[
            Collection(**{k: (str(r[k]) if k == "request_id" else r[k]) for k in Collection.model_fields})
            for r in rows
        ])

    return api

"""The scheduler's HTTP API (OpenAPI at /docs and /openapi.json): posts, their review, and the
content checks. Content planning (campaigns, series, events, calendar, audit) is in api_planning.py."""


import base64
from datetime import datetime
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from siar_runtime import zones
from siar_runtime.problems import TYPE_BASE, Problem

from . import accounts, checks, posts, review, store
from .identity import Actor, actor_dependency
from .policy import Policy
from .schemas import (
    AccountList,
    CancelRequest,
    CheckRequest,
    CheckResult,
    ChecksConfigOut,
    PostCopy,
    PostCreate,
    PostList,
    PostOut,
    PostUpdate,
    ReviewRequest,
    ReviewState,
    SendBackRequest,
)

PROBLEM = {"content": {"application/problem+json": {}}}
# 400: a list cursor this API did not give out.
ERRORS = {400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM}


def _cursor(post: PostOut) -> str:
    return base64.urlsafe_b64encode(f"{post.scheduled_at.isoformat()}|{post.post_id}".encode()).decode()


def _parse_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        when, _, pid = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(when), UUID(pid)
    except Exception as exc:
        raise Problem(400, "Bad request", "the cursor is not one this API gave out", type_=TYPE_BASE + "bad-cursor") from exc


LOCAL_FROM = ("inclusive: a day (2026-12-01, its midnight) or a time (2026-12-01T09:00); without an offset, "
              "the library's local time (SIAR_TIMEZONE)")
LOCAL_TO = ("a day (2026-12-05: up to the end of that day) or a time (exclusive); without an offset, the "
            "library's local time (SIAR_TIMEZONE)")
FromQuery = Annotated[str | None, Query(alias="from", description=LOCAL_FROM, max_length=64)]
ToQuery = Annotated[str | None, Query(alias="to", description=LOCAL_TO, max_length=64)]


def check_range(start: str | None, end: str | None, timezone: str) -> tuple[datetime | None, datetime | None]:
    """``from`` and ``to`` as instants (siar_runtime.zones.query_instant): a day or a time
    without an offset is in ``timezone`` (the library's, or the view's); ``to`` as a day takes
    that day in."""
    found: list[datetime | None] = []
    for name, text, is_end in (("from", start, False), ("to", end, True)):
        try:
            found.append(None if text is None else zones.query_instant(text, timezone, end=is_end))
        except ValueError as exc:
            raise Problem(422, "Invalid request", f"'{name}': {exc}", type_=TYPE_BASE + "validation") from exc
    lo, hi = found
    if lo and hi and hi <= lo:
        raise Problem(422, "Invalid request", "'to' must be after 'from'", type_=TYPE_BASE + "validation")
    return lo, hi


def answered(request: Request, response: Response, post: PostOut, created: bool) -> PostOut:
    """A post made now (201, the dispatcher woken) or an Idempotency-Key's replay (200)."""
    if created:
        request.app.state.wake()
    else:
        response.status_code = 200
    response.headers["Location"] = f"/v1/posts/{post.post_id}"
    return post


def router(auth, policy: Policy) -> APIRouter:
    api = APIRouter(prefix="/v1", responses=ERRORS)
    ActorDep = Annotated[Actor, Depends(actor_dependency(auth))]

    def pool(request: Request) -> asyncpg.Pool:
        return request.app.state.db.pool

    Pool = Annotated[asyncpg.Pool, Depends(pool)]

    @api.post("/posts", status_code=201, response_model=PostOut, tags=["posts"],
              summary="Schedule a post to one or more accounts (or keep it as a draft)",
              description="A submitted post runs the content checks (a blocking finding refuses it, "
                          "warnings are kept in `findings`). With SIAR_REVIEW_REQUIRED it waits in review "
                          "until a reviewer approves it; otherwise it is approved at once.")
    async def create(
        body: PostCreate,
        request: Request,
        response: Response,
        actor: ActorDep,
        db: Pool,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> PostOut:
        post, created = await posts.create_post(db, body, actor=actor, idempotency_key=idempotency_key, policy=policy)
        return answered(request, response, post, created)

    @api.post("/posts/{post_id}/copy", status_code=201, response_model=PostOut, tags=["posts"],
              summary="A new post from an existing one: how a failed post is sent again",
              description="The copy takes the original's text, media, title and campaign (what the body gives "
                          "replaces them) to the accounts whose targets failed for certain, unless `targets` "
                          "names others (where the outcome is unknown, the post may be live: look first); it is "
                          "checked and reviewed as any new post, the original's author and the copier both "
                          "counting as its writers. A failed target itself is never sent again.")
    async def copy(
        post_id: UUID,
        body: PostCopy,
        request: Request,
        response: Response,
        actor: ActorDep,
        db: Pool,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> PostOut:
        post, created = await posts.copy_post(db, post_id, body, actor=actor, idempotency_key=idempotency_key,
                                              policy=policy)  # fmt: skip
        return answered(request, response, post, created)

    @api.post("/posts/check", response_model=CheckResult, tags=["review"],
              summary="Run the content checks on a text without storing anything")
    async def check(body: CheckRequest, actor: ActorDep, db: Pool) -> CheckResult:
        async with db.acquire() as conn:
            camp = await posts.campaign(conn, body.campaign_id)
        found = posts.findings(policy, text=body.text, media=body.media, title=body.title, camp=camp,
                               scheduled_at=None, timezone=None, answers=await posts.look_at_media(policy, body.media))
        return CheckResult(blocked=bool(checks.blocking(found)), findings=found)

    @api.get("/content-checks", response_model=ChecksConfigOut, tags=["review"],
             summary="How this library's content checks and review are set up")
    async def checks_config(actor: ActorDep) -> ChecksConfigOut:
        config = policy.checks
        return ChecksConfigOut(
            modes={c: config.mode(c) for c in checks.CHECKS}, terms=len(config.terms),
            source_markers=list(config.source_markers), exempt_domains=list(config.exempt_domains),
            review_required=policy.review_required, timezone=policy.timezone,
        )

    @api.get("/posts/{post_id}", response_model=PostOut, tags=["posts"], summary="A post and each target's status")
    async def read(post_id: UUID, actor: ActorDep, db: Pool) -> PostOut:
        async with db.acquire() as conn:
            post = await store.get_post(conn, post_id)
        if post is None:
            raise Problem(404, "Not found", f"no post {post_id}", type_=TYPE_BASE + "not-found")
        return post

    @api.get("/posts", response_model=PostList, tags=["posts"], summary="Posts scheduled in a time range")
    async def list_(
        actor: ActorDep,
        db: Pool,
        start: FromQuery = None,
        end: ToQuery = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: str | None = None,
        campaign_id: UUID | None = None,
        series_id: UUID | None = None,
        review_state: ReviewState | None = None,
    ) -> PostList:
        lo, hi = check_range(start, end, policy.timezone)
        async with db.acquire() as conn:
            found = await store.list_posts(
                conn, start=lo, end=hi, after=_parse_cursor(cursor) if cursor else None, limit=limit,
                campaign_id=campaign_id, series_id=series_id, review_state=review_state,
            )
        return PostList(posts=found, next_cursor=_cursor(found[-1]) if len(found) == limit else None)

    @api.patch("/posts/{post_id}", response_model=PostOut, tags=["posts"],
               summary="Change a post before any target has gone out",
               description="An occurrence of a series changed here keeps its own content and time from then "
                           "on. Changing the content of an approved post sends it back to review where review "
                           "is required. A new `scheduled_at` also revives targets that missed their time for "
                           "want of approval.")
    async def update(post_id: UUID, body: PostUpdate, request: Request, actor: ActorDep, db: Pool) -> PostOut:
        post = await posts.update_post(db, post_id, body, actor=actor, policy=policy)
        request.app.state.wake()
        return post

    @api.post("/posts/{post_id}/cancel", response_model=PostOut, tags=["posts"],
              summary="Cancel every target that has not gone out yet (skips an occurrence of a series)",
              description="Targets still scheduled, and those with the publisher that have not gone out: "
                          "waiting for their first attempt or to retry after a platform's error. An attempt "
                          "already calling the platform at that moment cannot be stopped: if it succeeds, "
                          "the target shows published.")
    async def cancel(post_id: UUID, actor: ActorDep, db: Pool, body: CancelRequest | None = None) -> PostOut:
        return await posts.cancel_post(db, post_id, (body or CancelRequest()).reason, actor=actor)

    @api.post("/posts/{post_id}/submit", response_model=PostOut, tags=["review"],
              summary="Submit a draft: run the content checks, then in review (or approved)")
    async def submit(post_id: UUID, request: Request, actor: ActorDep, db: Pool) -> PostOut:
        post = await review.submit(db, post_id, actor=actor, policy=policy)
        request.app.state.wake()
        return post

    @api.post("/posts/{post_id}/approve", response_model=PostOut, tags=["review"],
              summary="Approve a post in review (reviewers; not one's own post)")
    async def approve(post_id: UUID, request: Request, actor: ActorDep, db: Pool,
                      body: ReviewRequest | None = None) -> PostOut:
        post = await review.approve(db, post_id, actor=actor, comment=(body or ReviewRequest()).comment)
        request.app.state.wake()
        return post

    @api.post("/posts/{post_id}/send-back", response_model=PostOut, tags=["review"],
              summary="Send a post back to its author as a draft, with a comment (reviewers)")
    async def send_back(post_id: UUID, body: SendBackRequest, actor: ActorDep, db: Pool) -> PostOut:
        return await review.send_back(db, post_id, actor=actor, comment=body.comment)

    @api.get("/accounts", response_model=AccountList, tags=["accounts"],
             summary="Accounts posts can target (connected through the publisher)")
    async def list_accounts(actor: ActorDep, db: Pool) -> AccountList:
        async with db.acquire() as conn:
            return AccountList(accounts=await accounts.list_accounts(conn))

    return api

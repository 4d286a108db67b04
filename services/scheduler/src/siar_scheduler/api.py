"""The scheduler's HTTP API (OpenAPI at /docs and /openapi.json)."""


import base64
from datetime import datetime
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from siar_runtime.auth import Caller
from siar_runtime.problems import TYPE_BASE, Problem

from . import accounts, posts, store
from .schemas import AccountList, CancelRequest, PostCreate, PostList, PostOut, PostUpdate

PROBLEM = {"content": {"application/problem+json": {}}}
ERRORS = {401: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM}


def _cursor(post: PostOut) -> str:
    return base64.urlsafe_b64encode(f"{post.scheduled_at.isoformat()}|{post.post_id}".encode()).decode()


def _parse_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        when, _, pid = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(when), UUID(pid)
    except Exception as exc:
        raise Problem(400, "Bad request", "the cursor is not one this API gave out", type_=TYPE_BASE + "bad-cursor") from exc


def router(auth, grace_seconds: int) -> APIRouter:
    api = APIRouter(prefix="/v1", responses=ERRORS)
    CallerDep = Annotated[Caller, Depends(auth)]

    def pool(request: Request) -> asyncpg.Pool:
        return request.app.state.db.pool

    Pool = Annotated[asyncpg.Pool, Depends(pool)]

    @api.post("/posts", status_code=201, response_model=PostOut, tags=["posts"],
              summary="Schedule a post to one or more accounts")
    async def create(
        body: PostCreate,
        request: Request,
        response: Response,
        caller: CallerDep,
        db: Pool,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> PostOut:
        post, created = await posts.create_post(
            db, body, created_by=caller.token_name, idempotency_key=idempotency_key, grace_seconds=grace_seconds
        )
        if not created:
            response.status_code = 200
        else:
            request.app.state.wake()
        response.headers["Location"] = f"/v1/posts/{post.post_id}"
        return post

    @api.get("/posts/{post_id}", response_model=PostOut, tags=["posts"], summary="A post and each target's status")
    async def read(post_id: UUID, caller: CallerDep, db: Pool) -> PostOut:
        async with db.acquire() as conn:
            post = await store.get_post(conn, post_id)
        if post is None:
            raise Problem(404, "Not found", f"no post {post_id}", type_=TYPE_BASE + "not-found")
        return post

    @api.get("/posts", response_model=PostList, tags=["posts"], summary="Posts scheduled in a time range")
    async def list_(
        caller: CallerDep,
        db: Pool,
        start: Annotated[datetime | None, Query(alias="from", description="inclusive, with offset")] = None,
        end: Annotated[datetime | None, Query(alias="to", description="exclusive, with offset")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: str | None = None,
    ) -> PostList:
        for name, value in (("from", start), ("to", end)):
            if value is not None and value.tzinfo is None:
                raise Problem(422, "Invalid request", f"'{name}' needs a UTC offset", type_=TYPE_BASE + "validation")
        if start and end and end <= start:
            raise Problem(422, "Invalid request", "'to' must be after 'from'", type_=TYPE_BASE + "validation")
        async with db.acquire() as conn:
            found = await store.list_posts(
                conn, start=start, end=end, after=_parse_cursor(cursor) if cursor else None, limit=limit
            )
        return PostList(posts=found, next_cursor=_cursor(found[-1]) if len(found) == limit else None)

    @api.patch("/posts/{post_id}", response_model=PostOut, tags=["posts"],
               summary="Change a post before any target has gone out")
    async def update(post_id: UUID, body: PostUpdate, request: Request, caller: CallerDep, db: Pool) -> PostOut:
        post = await posts.update_post(db, post_id, body, grace_seconds=grace_seconds)
        request.app.state.wake()
        return post

    @api.post("/posts/{post_id}/cancel", response_model=PostOut, tags=["posts"],
              summary="Cancel every target that has not gone out yet")
    async def cancel(post_id: UUID, caller: CallerDep, db: Pool, body: CancelRequest | None = None) -> PostOut:
        return await posts.cancel_post(db, post_id, (body or CancelRequest()).reason)

    @api.get("/accounts", response_model=AccountList, tags=["accounts"],
             summary="Accounts posts can target (connected through the publisher)")
    async def list_accounts(caller: CallerDep, db: Pool) -> AccountList:
        async with db.acquire() as conn:
            return AccountList(accounts=await accounts.list_accounts(conn))

    return api

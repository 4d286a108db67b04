"""What the scheduler does with posts: create, edit, cancel, and dispatch when due.

Each function takes its dependencies as arguments; the HTTP layer and the due runner call them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
from siar_contracts import (
    MediaItem,
    PostCancelled,
    PostDue,
    PostScheduled,
    PostUpdated,
    TargetPlan,
    spec_for_model,
)
from siar_platforms import Content, Media, validate
from siar_runtime.outbox import write_events
from siar_runtime.problems import TYPE_BASE, Problem

from . import accounts, store
from .schemas import AccountOut, MediaIn, PostCreate, PostOut, PostUpdate
from .timing import TimeError, resolve

SOURCE = "/siar/scheduler"
SCHEMA = "scheduler"


def _event(model, correlation_id: str, subject: str):
    return spec_for_model(type(model)).envelope(model, source=SOURCE, correlation_id=correlation_id, subject=subject)


def _when(scheduled_at: datetime, timezone: str | None, grace_seconds: int) -> datetime:
    try:
        instant = resolve(scheduled_at, timezone)
    except TimeError as exc:
        raise Problem(422, "Invalid time", str(exc), type_=TYPE_BASE + "invalid-time") from exc
    if instant < datetime.now(UTC) - timedelta(seconds=grace_seconds):
        raise Problem(
            422,
            "Invalid time",
            f"{instant.isoformat()} is in the past; a post may be at most {grace_seconds} s late",
            type_=TYPE_BASE + "invalid-time",
        )
    return instant


def _content(text: str, media: list[MediaIn], title: str | None) -> Content:
    return Content(
        text=text,
        media=tuple(
            Media(
                kind=m.kind,
                url=m.url,
                alt_text=m.alt_text,
                size_bytes=m.size_bytes,
                duration_seconds=m.duration_seconds,
                mime_type=m.mime_type,
            )
            for m in media
        ),
        title=title,
    )


def check_content(targets: list[AccountOut], text: str, media: list[MediaIn], title: str | None) -> None:
    """Refuse, before anything is stored, content that any target platform would refuse."""
    content = _content(text, media, title)
    violations = []
    for account in targets:
        for v in validate(account.platform, content, limits=account.limits or None):
            violations.append(
                {
                    "target": account.account_id,
                    "handle": account.handle,
                    "platform": account.platform,
                    "rule": v.rule,
                    "actual": v.actual,
                    "limit": v.limit,
                    "message": v.message,
                }
            )
    if violations:
        raise Problem(
            422,
            "Content not accepted",
            "; ".join(f"{v['handle']}: {v['message']}" for v in violations),
            type_=TYPE_BASE + "content-rules",
            violations=violations,
        )


async def _targets(conn: asyncpg.Connection, account_ids: list[str]) -> list[AccountOut]:
    known = await accounts.find(conn, account_ids)
    unknown = [a for a in account_ids if a not in known]
    if unknown:
        raise Problem(
            422,
            "Unknown account",
            f"no connected account {', '.join(unknown)}; see GET /v1/accounts",
            type_=TYPE_BASE + "unknown-account",
            targets=unknown,
        )
    blocked = [a for a in known.values() if a.status != "active"]
    if blocked:
        raise Problem(
            422,
            "Account needs attention",
            "; ".join(f"{a.handle} ({a.platform}) is {a.status}: {a.status_reason or 'reconnect it'}" for a in blocked),
            type_=TYPE_BASE + "account-inactive",
            targets=[a.account_id for a in blocked],
        )
    return [known[a] for a in account_ids]


def _plans(post: PostOut) -> list[TargetPlan]:
    return [
        TargetPlan(
            target_id=str(t.target_id), account_id=t.account_id, platform=t.platform,
            due_at=t.due_at, status=t.status,
        )
        for t in post.targets
    ]


async def create_post(
    pool: asyncpg.Pool, req: PostCreate, *, created_by: str, idempotency_key: str | None, grace_seconds: int
) -> tuple[PostOut, bool]:
    """Returns the post and whether it was created now (False: an idempotent replay)."""
    scheduled_at = _when(req.scheduled_at, req.timezone, grace_seconds)
    async with pool.acquire() as conn:
        if idempotency_key:
            existing = await store.post_id_for_key(conn, idempotency_key)
            if existing is not None:
                return await store.get_post(conn, existing), False  # type: ignore[return-value]
        targets = await _targets(conn, req.targets)
        check_content(targets, req.text, req.media, req.title)
        post_id = uuid.uuid4()
        correlation_id = str(uuid.uuid4())
        try:
            async with conn.transaction():
                await store.insert_post(
                    conn,
                    post_id=post_id,
                    text=req.text,
                    media=req.media,
                    title=req.title,
                    scheduled_at=scheduled_at,
                    timezone=req.timezone,
                    correlation_id=correlation_id,
                    idempotency_key=idempotency_key,
                    created_by=created_by,
                    targets=[(uuid.uuid4(), a.account_id, a.platform) for a in targets],
                )
                post = await store.get_post(conn, post_id)
                assert post is not None
                await write_events(
                    conn,
                    SCHEMA,
                    [_event(
                        PostScheduled(post_id=str(post_id), scheduled_at=scheduled_at, text=req.text, targets=_plans(post)),
                        correlation_id,
                        f"post/{post_id}",
                    )],
                )
        except asyncpg.UniqueViolationError:
            # Two requests with one Idempotency-Key raced; the other one won.
            existing = await store.post_id_for_key(conn, idempotency_key or "")
            if existing is None:
                raise
            return await store.get_post(conn, existing), False  # type: ignore[return-value]
    return post, True


def _not_found(post_id: UUID) -> Problem:
    return Problem(404, "Not found", f"no post {post_id}", type_=TYPE_BASE + "not-found")


async def update_post(pool: asyncpg.Pool, post_id: UUID, req: PostUpdate, *, grace_seconds: int) -> PostOut:
    async with pool.acquire() as conn, conn.transaction():
        post = await store.get_post(conn, post_id, for_update=True)
        if post is None:
            raise _not_found(post_id)
        gone = [t for t in post.targets if t.status != "scheduled"]
        if gone:
            raise Problem(
                409,
                "Already under way",
                "cannot change a post once a target has gone out or was cancelled: "
                + ", ".join(f"{t.platform} {t.account_id} is {t.status}" for t in gone),
                type_=TYPE_BASE + "post-under-way",
            )
        fields = req.model_fields_set
        text = req.text if "text" in fields and req.text is not None else post.text
        media = req.media if "media" in fields and req.media is not None else post.media
        title = req.title if "title" in fields else post.title
        timezone = req.timezone if "timezone" in fields else post.timezone
        if "scheduled_at" in fields and req.scheduled_at is not None:
            scheduled_at = _when(req.scheduled_at, timezone, grace_seconds)
        else:
            scheduled_at = post.scheduled_at
        targets = await _targets(conn, [t.account_id for t in post.targets])
        check_content(targets, text, media, title)
        await store.update_post(
            conn, post_id, text=text, media=media, title=title, scheduled_at=scheduled_at, timezone=timezone
        )
        updated = await store.get_post(conn, post_id)
        assert updated is not None
        await write_events(
            conn,
            SCHEMA,
            [_event(
                PostUpdated(post_id=str(post_id), scheduled_at=scheduled_at, text=text, targets=_plans(updated)),
                updated.correlation_id,
                f"post/{post_id}",
            )],
        )
    return updated


async def cancel_post(pool: asyncpg.Pool, post_id: UUID, reason: str) -> PostOut:
    async with pool.acquire() as conn, conn.transaction():
        post = await store.get_post(conn, post_id, for_update=True)
        if post is None:
            raise _not_found(post_id)
        cancelled = await store.cancel_targets(conn, post_id, reason)
        if not cancelled:
            raise Problem(
                409,
                "Nothing left to cancel",
                "every target has already gone out or was cancelled: "
                + ", ".join(f"{t.platform} {t.account_id} is {t.status}" for t in post.targets),
                type_=TYPE_BASE + "post-under-way",
            )
        await write_events(
            conn,
            SCHEMA,
            [_event(
                PostCancelled(post_id=str(post_id), target_ids=[str(t) for t in cancelled], reason=reason),
                post.correlation_id,
                f"post/{post_id}",
            )],
        )
        updated = await store.get_post(conn, post_id)
    assert updated is not None
    return updated


async def dispatch_due(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Claim targets whose time has come and write one post.due each, in the caller's transaction."""
    rows = await store.claim_due(conn, limit)
    if rows:
        await write_events(
            conn,
            SCHEMA,
            [
                _event(
                    PostDue(
                        post_id=str(r["post_id"]),
                        target_id=str(r["target_id"]),
                        account_id=r["account_id"],
                        platform=r["platform"],
                        due_at=r["due_at"],
                        text=r["text"],
                        media=[MediaItem(**m) for m in r["media"]],
                        title=r["title"],
                    ),
                    r["correlation_id"],
                    f"target/{r['target_id']}",
                )
                for r in rows
            ],
        )
    return rows

"""Review before publishing: draft -> in_review -> approved (then it goes out at its time).

A reviewer (or admin) approves or sends back with a comment; nobody approves a post they wrote,
last changed or submitted. Without ``SIAR_REVIEW_REQUIRED`` a submitted post is approved at once.
Every step is an audit entry and a post.updated event carrying the new review state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
from siar_runtime.outbox import write_events
from siar_runtime.problems import TYPE_BASE, Problem

from . import planning_store as plans
from . import store
from .identity import Actor, require_reviewer
from .policy import Policy
from .posts import (
    SCHEMA,
    campaign,
    findings,
    look_at_media,
    not_found,
    pending,
    refuse_blocking,
    updated_event,
)
from .schemas import PostOut

STATE_WORDS = {"draft": "a draft", "in_review": "in review", "approved": "approved"}


def wrong_state(what: str, state: str, wanted: str) -> Problem:
    return Problem(
        409, "Not possible in this state", f"the {what} is {STATE_WORDS[state]}; {wanted}",
        type_=TYPE_BASE + "review-state", review_state=state,
    )


def same_person(actor: Actor, person: str) -> bool:
    """Whether ``person`` (as a post or series records it) is the caller. The feedback service names
    a token by its first characters only (``perp…``, a survey's creator): any token beginning so
    counts as that person — when in doubt, another reviewer approves."""
    if actor.id == person:
        return True
    return person.endswith("\u2026") and len(person) > 1 and actor.id.startswith(person)


def own_work(actor: Actor, *people: str | None) -> None:
    if any(same_person(actor, p) for p in people if p):
        raise Problem(
            403,
            "Not allowed",
            "you wrote, changed or submitted this yourself; another reviewer must approve it",
            type_=TYPE_BASE + "own-post",
        )


@asynccontextmanager
async def refusal_audited(pool: asyncpg.Pool, actor: Actor, action: str, entity: str, entity_id: UUID,
                          exists: Callable[[asyncpg.Connection], Awaitable[bool]]) -> AsyncIterator[None]:  # fmt: skip
    """A refused approval or send-back (403: the token's role, or one's own work) is an audit
    entry of its own, ``<entity>.<action>_refused`` with the reason: the four-eyes rule is a
    control, and an auditor asks who tried to get round it. Written in a transaction of its
    own, since the refused one writes nothing; only for what ``exists`` (the append-only log
    takes no entry for an id nobody made)."""
    try:
        yield
    except Problem as problem:
        if problem.status == 403:
            async with pool.acquire() as conn:
                if await exists(conn):
                    await plans.audit(conn, actor=actor.id, role=actor.role, action=f"{entity}.{action}_refused",
                                      entity=entity, entity_id=entity_id, details={"reason": problem.detail})  # fmt: skip
        raise


def post_exists(post_id: UUID) -> Callable[[asyncpg.Connection], Awaitable[bool]]:
    async def exists(conn: asyncpg.Connection) -> bool:
        return await store.get_post(conn, post_id) is not None

    return exists


async def _locked(conn: asyncpg.Connection, post_id: UUID) -> PostOut:
    post = await store.get_post(conn, post_id, for_update=True)
    if post is None:
        raise not_found(post_id)
    if not pending(post):
        raise Problem(409, "Already under way", f"the post is {post.status}; review is for posts that have not gone out",
                      type_=TYPE_BASE + "post-under-way")
    return post


async def _announce(conn: asyncpg.Connection, post_id: UUID, actor: Actor, action: str, details: dict) -> PostOut:
    post = await store.get_post(conn, post_id)
    assert post is not None
    camp = await campaign(conn, post.campaign_id)
    await write_events(conn, SCHEMA, [updated_event(post, camp)])
    await plans.audit(conn, actor=actor.id, role=actor.role, action=action, entity="post", entity_id=post_id,
                      details=details)
    return post


async def submit(pool: asyncpg.Pool, post_id: UUID, *, actor: Actor, policy: Policy) -> PostOut:
    answers = {}
    if policy.checks.mode("media_links") != "off":  # its media links are tried before the row is locked
        async with pool.acquire() as conn:
            before = await store.get_post(conn, post_id)
        answers = await look_at_media(policy, before.media if before else [])
    async with pool.acquire() as conn, conn.transaction():
        post = await _locked(conn, post_id)
        if post.review.state != "draft":
            raise wrong_state("post", post.review.state, "only a draft is submitted")
        camp = await campaign(conn, post.campaign_id)
        found = findings(policy, text=post.text, media=post.media, title=post.title, camp=camp,
                         scheduled_at=post.scheduled_at, timezone=post.timezone, answers=answers)
        # The targets' texts do not change at submission: what they left out stays said.
        found += [f.model_dump(exclude_none=True) for f in post.findings if f.check == "campaign_hashtags"]
        refuse_blocking(found)
        state = "in_review" if policy.review_required else "approved"
        await store.set_review(conn, post_id, state, actor=actor.id, comment=None, submitted=True, findings=found)
        return await _announce(conn, post_id, actor, "post.submitted", {
            "review_state": state, **({"warnings": [f["message"] for f in found]} if found else {}),
        })


async def approve(pool: asyncpg.Pool, post_id: UUID, *, actor: Actor, comment: str | None) -> PostOut:
    async with refusal_audited(pool, actor, "approve", "post", post_id, post_exists(post_id)):
        return await _approve(pool, post_id, actor=actor, comment=comment)


async def _approve(pool: asyncpg.Pool, post_id: UUID, *, actor: Actor, comment: str | None) -> PostOut:
    require_reviewer(actor)
    async with pool.acquire() as conn, conn.transaction():
        post = await _locked(conn, post_id)
        if post.review.state != "in_review":
            raise wrong_state("post", post.review.state, "only a post in review is approved"
                              + (" (submit it first)" if post.review.state == "draft" else ""))
        own_work(actor, post.review.created_by, post.review.edited_by, post.review.submitted_by)
        if not any(t.status == "scheduled" for t in post.targets):
            raise Problem(
                409, "Its time has passed",
                f"it was not approved by its time ({post.scheduled_at.isoformat()}); set a new time "
                "(PATCH scheduled_at), then approve it",
                type_=TYPE_BASE + "review-too-late",
            )
        await store.set_review(conn, post_id, "approved", actor=actor.id, comment=comment, reviewed=True)
        return await _announce(conn, post_id, actor, "post.approved", {"comment": comment} if comment else {})


async def send_back(pool: asyncpg.Pool, post_id: UUID, *, actor: Actor, comment: str) -> PostOut:
    async with refusal_audited(pool, actor, "send_back", "post", post_id, post_exists(post_id)):
        require_reviewer(actor)
        async with pool.acquire() as conn, conn.transaction():
            post = await _locked(conn, post_id)
            if post.review.state == "draft":
                raise wrong_state("post", "draft", "it is with its author already")
            await store.set_review(conn, post_id, "draft", actor=actor.id, comment=comment, reviewed=True)
            return await _announce(conn, post_id, actor, "post.sent_back",
                                   {"comment": comment, "from": post.review.state})

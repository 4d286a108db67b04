"""What the scheduler does with posts: create, edit, cancel, and dispatch when due.

Each function takes its dependencies as arguments; the HTTP layer and the due runner call them.
A post is created as a draft, or submitted: then the content checks run and it is approved at
once, or (``SIAR_REVIEW_REQUIRED``) waits in review. Only an approved post goes out; one not
approved by its time fails with error class not_approved (see :func:`dispatch_due`)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

import asyncpg
from pydantic import ValidationError
from siar_contracts import (
    CloudEvent,
    ErrorClass,
    MediaItem,
    PostCancelled,
    PostDue,
    PostFailed,
    PostScheduled,
    PostUpdated,
    TargetPlan,
    spec_for_model,
)
from siar_platforms import Content, Media, extract_hashtags, validate
from siar_runtime.outbox import write_events
from siar_runtime.problems import TYPE_BASE, Problem

from . import accounts, checks, media_links, store
from . import planning_store as plans
from .hashtags import with_hashtags
from .identity import SYSTEM, Actor
from .policy import Policy
from .schemas import AccountOut, MediaIn, PostCopy, PostCreate, PostOut, PostUpdate
from .timing import TimeError, canonical, local, resolve, zone

SOURCE = "/siar/scheduler"
SCHEMA = "scheduler"


def _event(model, correlation_id: str, subject: str):
    return spec_for_model(type(model)).envelope(model, source=SOURCE, correlation_id=correlation_id, subject=subject)


def when(scheduled_at: datetime, timezone: str | None, grace_seconds: int) -> datetime:
    try:
        instant = resolve(scheduled_at, timezone)
    except TimeError as exc:
        raise Problem(422, "Invalid time", str(exc), type_=TYPE_BASE + "invalid-time") from exc
    now = datetime.now(UTC)
    if instant < now - timedelta(seconds=grace_seconds):
        # Said in the time the post was written in (its zone, or the offset it carried), with
        # how long ago that was: "2026-12-05T01:00:00+00:00" read as a wrong hour to a librarian in WIB.
        shown = local(instant, timezone) if timezone else scheduled_at
        raise Problem(
            422,
            "Invalid time",
            f"{shown:%Y-%m-%d %H:%M}{f' {timezone}' if timezone else shown.strftime(' UTC%z')} is in the past "
            f"({_ago(now - instant)} ago); a post may be at most {grace_seconds} s late",
            type_=TYPE_BASE + "invalid-time",
        )
    return instant


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return f"{int(delta.total_seconds())} s"
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"



@dataclass(frozen=True)
class Campaign:
    campaign_id: UUID
    name: str
    hashtags: tuple[str, ...]
    starts_on: date | None = None
    ends_on: date | None = None

    @classmethod
    def of(cls, row) -> Campaign:
        return cls(row["campaign_id"], row["name"], tuple(row["hashtags"]), row["starts_on"], row["ends_on"])


async def campaign(conn: asyncpg.Connection, campaign_id: UUID | None) -> Campaign | None:
    if campaign_id is None:
        return None
    row = await plans.get_campaign(conn, campaign_id)
    if row is None:
        raise Problem(422, "Unknown campaign", f"no campaign {campaign_id}; see GET /v1/campaigns",
                      type_=TYPE_BASE + "unknown-campaign")
    return Campaign.of(row)


def content_of(text: str, media: list[MediaIn], title: str | None) -> Content:
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


def target_texts(
    targets: list[AccountOut], text: str, media: list[MediaIn], title: str | None, camp: Campaign | None
) -> dict[str, str | None]:
    """Per account, the text it sends when that differs from the post's (campaign hashtags)."""
    if camp is None or not camp.hashtags:
        return {a.account_id: None for a in targets}
    content = content_of(text, media, title)
    out: dict[str, str | None] = {}
    for a in targets:
        rendered = with_hashtags(text, camp.hashtags, a.platform, content, a.limits or None)
        out[a.account_id] = rendered if rendered != text else None
    return out


def hashtags_left_out(targets: list[AccountOut], text: str, texts: dict[str, str | None],
                      camp: Campaign | None) -> list[dict]:
    """A warning per account where the campaign's hashtags did not all fit (a long text for X):
    they are left out there, which nobody would otherwise know."""
    if camp is None or not camp.hashtags:
        return []
    found = []
    for a in targets:
        present = {t.casefold() for t in extract_hashtags(texts.get(a.account_id) or text)}
        missing = [t for t in camp.hashtags if t.casefold() not in present]
        if missing:
            tags = ", ".join("#" + t for t in missing)
            found.append(checks.Finding(
                check="campaign_hashtags", severity="warn", rule="no_room", match=tags,
                message=f"{a.platform} {a.handle}: no room for the campaign's {tags} within the platform's limit; "
                        "they are left out there (shorten the text to keep them)",
            ).as_dict())
    return found


def violations(
    targets: list[AccountOut], text: str, media: list[MediaIn], title: str | None,
    texts: dict[str, str | None] | None = None,
) -> list[dict]:
    """Every platform rule a target would refuse this content for (each with its own text)."""
    found = []
    for account in targets:
        own = (texts or {}).get(account.account_id) or text
        for v in validate(account.platform, content_of(own, media, title), limits=account.limits or None):
            found.append(
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
    return found


def check_content(
    targets: list[AccountOut], text: str, media: list[MediaIn], title: str | None,
    texts: dict[str, str | None] | None = None, answers: Mapping[str, media_links.Answer] | None = None,
) -> None:
    """Refuse, before anything is stored, content that any target platform would refuse (with
    ``answers``, media sizes as their servers said them where the post gave none)."""
    found = violations(targets, text, media_links.sized(media, answers) if answers else media, title, texts)
    if found:
        raise Problem(
            422,
            "Content not accepted",
            "; ".join(f"{v['handle']}: {v['message']}" for v in found),
            type_=TYPE_BASE + "content-rules",
            violations=found,
        )


def findings(
    policy: Policy, *, text: str, media: list[MediaIn], title: str | None, camp: Campaign | None,
    scheduled_at: datetime | None, timezone: str | None, answers: Mapping[str, media_links.Answer] | None = None,
) -> list[dict]:
    """The content checks' findings; with ``answers`` (:func:`look_at_media`), the media links' too."""
    local_day = local(scheduled_at, timezone or policy.timezone).date() if scheduled_at else None
    found = checks.run(
        policy.checks, text=text, title=title, media=media,
        campaign_hashtags=camp.hashtags if camp else (),
        local_date=local_day,
        campaign_window=(camp.starts_on, camp.ends_on) if camp else None,
        campaign_name=camp.name if camp else None,
    )
    if answers:
        found += media_links.findings(policy.checks.mode("media_links"), media, answers)
    return [f.as_dict() for f in found]


def media_findings(post: PostOut) -> list[dict]:
    """What was found of a post's media links when they were last tried (kept while they stay)."""
    return [f.model_dump(exclude_none=True) for f in post.findings if f.check == "media_links"]


async def look_at_media(policy: Policy, media: Sequence, *, reuse: bool = False) -> dict[str, media_links.Answer]:
    """Each media link's answer, unless that check is off. Called before a transaction or a
    connection is taken: a slow server must not hold a row lock or a pool connection."""
    if not media or policy.checks.mode("media_links") == "off":
        return {}
    return await media_links.look([m.url for m in media], timeout=policy.media_check_seconds, egress=policy.egress,
                                  reuse=reuse)


def refuse_blocking(found: list[dict]) -> None:
    blocked = checks.blocking(found)
    if blocked:
        raise Problem(
            422,
            "Content checks failed",
            "; ".join(f["message"] for f in blocked),
            type_=TYPE_BASE + "content-checks",
            findings=found,
        )


def initial_state(policy: Policy, *, draft: bool) -> str:
    if draft:
        return "draft"
    return "in_review" if policy.review_required else "approved"


async def resolve_targets(conn: asyncpg.Connection, account_ids: list[str], *, allow_inactive: bool = False) -> list[AccountOut]:
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
    if blocked and not allow_inactive:
        raise Problem(
            422,
            "Account needs attention",
            "; ".join(f"{a.handle} ({a.platform}) is {a.status}: {a.status_reason or 'reconnect it'}" for a in blocked),
            type_=TYPE_BASE + "account-inactive",
            targets=[a.account_id for a in blocked],
        )
    return [known[a] for a in account_ids]



def plans_of(post: PostOut) -> list[TargetPlan]:
    return [
        TargetPlan(
            target_id=str(t.target_id), account_id=t.account_id, platform=t.platform,
            due_at=t.due_at, status=t.status,
        )
        for t in post.targets
    ]


def scheduled_event(post: PostOut, camp: Campaign | None):
    return _event(
        PostScheduled(
            post_id=str(post.post_id), scheduled_at=post.scheduled_at, text=post.text, targets=plans_of(post),
            campaign_id=str(post.campaign_id) if post.campaign_id else None,
            campaign_hashtags=list(camp.hashtags) if camp else [],
            series_id=str(post.series_id) if post.series_id else None,
            review_state=post.review.state,
        ),
        post.correlation_id,
        f"post/{post.post_id}",
    )


def updated_event(post: PostOut, camp: Campaign | None):
    return _event(
        PostUpdated(
            post_id=str(post.post_id), scheduled_at=post.scheduled_at, text=post.text, targets=plans_of(post),
            campaign_id=str(post.campaign_id) if post.campaign_id else None,
            campaign_hashtags=list(camp.hashtags) if camp else [],
            series_id=str(post.series_id) if post.series_id else None,
            review_state=post.review.state,
        ),
        post.correlation_id,
        f"post/{post.post_id}",
    )


def cancelled_event(post: PostOut, target_ids: list[UUID], reason: str):
    return _event(
        PostCancelled(post_id=str(post.post_id), target_ids=[str(t) for t in target_ids], reason=reason),
        post.correlation_id,
        f"post/{post.post_id}",
    )


@dataclass
class NewPost:
    """A post checked and ready to store (see :func:`insert_new`)."""

    text: str
    media: list[MediaIn]
    title: str | None
    scheduled_at: datetime
    timezone: str | None
    targets: list[AccountOut]
    review_state: str
    created_by: str
    camp: Campaign | None = None
    texts: dict[str, str | None] = field(default_factory=dict)
    found: list[dict] = field(default_factory=list)
    idempotency_key: str | None = None
    series_id: UUID | None = None
    occurrence_key: str | None = None
    submitted_by: str | None = None
    reviewed_by: str | None = None
    edited_by: str | None = None  # who last changed it, when not its author
    post_id: UUID = field(default_factory=uuid.uuid4)
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def prepare(
    policy: Policy, *, text: str, media: list[MediaIn], title: str | None, scheduled_at: datetime,
    timezone: str | None, targets: list[AccountOut], camp: Campaign | None, draft: bool, created_by: str,
    answers: Mapping[str, media_links.Answer] | None = None,
) -> NewPost:
    """Check content against every target platform's rules and the library's checks (with
    ``answers``, the media links' too); raises the problem that refuses it. A draft is not refused
    by the library's checks (it is not submitted)."""
    texts = target_texts(targets, text, media, title, camp)
    check_content(targets, text, media, title, texts, answers)
    found = findings(policy, text=text, media=media, title=title, camp=camp, scheduled_at=scheduled_at,
                     timezone=timezone, answers=answers)
    found += hashtags_left_out(targets, text, texts, camp)
    if not draft:
        refuse_blocking(found)
    return NewPost(
        text=text, media=media, title=title, scheduled_at=scheduled_at, timezone=timezone, targets=targets,
        review_state=initial_state(policy, draft=draft), created_by=created_by, camp=camp, texts=texts, found=found,
    )


async def insert_new(conn: asyncpg.Connection, new: NewPost, actor: Actor, *, action: str = "post.created",
                     details: dict | None = None) -> PostOut:
    """Store a prepared post, its post.scheduled event and its audit entry (caller's transaction)."""
    await store.insert_post(
        conn,
        post_id=new.post_id,
        text=new.text,
        media=new.media,
        title=new.title,
        scheduled_at=new.scheduled_at,
        timezone=new.timezone,
        correlation_id=new.correlation_id,
        idempotency_key=new.idempotency_key,
        created_by=new.created_by,
        targets=[(uuid.uuid4(), a.account_id, a.platform, new.texts.get(a.account_id)) for a in new.targets],
        campaign_id=new.camp.campaign_id if new.camp else None,
        series_id=new.series_id,
        occurrence_key=new.occurrence_key,
        review_state=new.review_state,
        submitted_by=new.submitted_by,
        reviewed_by=new.reviewed_by,
        findings=new.found,
        edited_by=new.edited_by,
    )
    post = await store.get_post(conn, new.post_id)
    assert post is not None
    await write_events(conn, SCHEMA, [scheduled_event(post, new.camp)])
    await plans.audit(
        conn, actor=actor.id, role=actor.role, action=action, entity="post", entity_id=new.post_id,
        details={
            "scheduled_at": new.scheduled_at.isoformat(),
            "review_state": new.review_state,
            "targets": [a.account_id for a in new.targets],
            "text": new.text,
            **({"campaign_id": str(new.camp.campaign_id)} if new.camp else {}),
            **({"series_id": str(new.series_id), "occurrence": new.occurrence_key} if new.series_id else {}),
            **({"warnings": [f["message"] for f in new.found]} if new.found else {}),
            **(details or {}),
        },
    )
    return post


async def create_post(
    pool: asyncpg.Pool, req: PostCreate, *, actor: Actor, idempotency_key: str | None, policy: Policy,
    audit_details: dict | None = None, author: str | None = None, editor: str | None = None,
) -> tuple[PostOut, bool]:
    """Returns the post and whether it was created now (False: an idempotent replay).
    ``audit_details`` add to its audit entry (where a post the scheduler made came from);
    ``author`` and ``editor``: who wrote and who last changed a post the scheduler makes (its
    created_by and edited_by, so neither can approve it)."""
    # A local time without a zone is the library's (SIAR_TIMEZONE), as in series, CSV and the CLI.
    timezone = canonical(req.timezone) or (policy.timezone if req.scheduled_at.tzinfo is None else None)
    scheduled_at = when(req.scheduled_at, timezone, policy.grace_seconds)
    if idempotency_key:  # a replay answers at once, its media links not tried again
        async with pool.acquire() as conn:
            existing = await store.post_id_for_key(conn, idempotency_key)
            if existing is not None:
                return await store.get_post(conn, existing), False  # type: ignore[return-value]
    answers = await look_at_media(policy, req.media)
    async with pool.acquire() as conn:
        try:  # a handle or platform:handle as in the CLI and CSV import
            account_ids = await accounts.ids_for(conn, req.targets)
        except accounts.Ambiguous as exc:
            raise Problem(422, "Unknown account", str(exc), type_=TYPE_BASE + "unknown-account") from exc
        if len(set(account_ids)) != len(account_ids):
            raise Problem(422, "Invalid request", "each account may be named once (two of the targets name the same "
                          "account)", type_=TYPE_BASE + "validation")
        targets = await resolve_targets(conn, account_ids)
        camp = await campaign(conn, req.campaign_id)
        new = prepare(
            policy, text=req.text, media=req.media, title=req.title, scheduled_at=scheduled_at,
            timezone=timezone, targets=targets, camp=camp, draft=req.draft, created_by=author or actor.id,
            answers=answers,
        )
        new.idempotency_key = idempotency_key
        new.edited_by = editor
        try:
            async with conn.transaction():
                post = await insert_new(conn, new, actor, details=audit_details)
        except asyncpg.UniqueViolationError:
            # Two requests with one Idempotency-Key raced; the other one won.
            existing = await store.post_id_for_key(conn, idempotency_key or "")
            if existing is None:
                raise
            return await store.get_post(conn, existing), False  # type: ignore[return-value]
    return post, True


async def copy_post(
    pool: asyncpg.Pool, post_id: UUID, req: PostCopy, *, actor: Actor, idempotency_key: str | None, policy: Policy,
) -> tuple[PostOut, bool]:
    """A new post from ``post_id``'s content (what ``req`` gives replaces it), checked, reviewed
    and audited as any new post (its audit entry names the original). New targets, so no target
    is ever sent twice; by default only to the accounts where the original failed for certain —
    an ``outcome_unknown`` failure may be live, and a pending or published target is there
    already: those accounts must be named. The original's author counts as the copy's author and
    whoever copies it as its editor, so neither approves it (four eyes, as for an edit)."""
    async with pool.acquire() as conn:
        original = await store.get_post(conn, post_id)
    if original is None:
        raise not_found(post_id)
    if req.targets:
        refs = req.targets
    else:
        refs = list(dict.fromkeys(t.account_id for t in original.targets
                                      if t.status == "failed" and t.error_class != "outcome_unknown"))
        if not refs:
            unknown = [t for t in original.targets if t.error_class == "outcome_unknown"]
            raise Problem(
                422, "Name the accounts",
                "nothing of this post failed for certain, so the copy needs its accounts (targets)"
                + ("; where the outcome is unknown the post may be live: look on the platform first ("
                   + ", ".join(f"{t.platform} {t.account_id}" for t in unknown) + ")" if unknown else ""),
                type_=TYPE_BASE + "validation",
            )
    try:
        new = PostCreate(
            text=original.text if req.text is None else req.text,
            media=original.media if req.media is None else req.media,
            title=original.title if req.title is None else req.title,
            targets=refs, scheduled_at=req.scheduled_at, timezone=req.timezone or original.timezone,
            campaign_id=original.campaign_id, draft=req.draft,
        )
    except ValidationError as exc:  # what the original holds no longer makes a post (cannot happen today)
        raise Problem(422, "Invalid request", f"the copy would not be a valid post: {exc.errors()[0]['msg']}",
                      type_=TYPE_BASE + "validation") from exc
    # An Idempotency-Key names one copy of one post: the same key elsewhere is another request.
    key = f"copy:{post_id}:{idempotency_key}" if idempotency_key else None
    return await create_post(pool, new, actor=actor, idempotency_key=key, policy=policy,
                             audit_details={"copied_from": str(post_id)},
                             author=original.review.created_by or actor.id, editor=actor.id)


def not_found(post_id: UUID) -> Problem:
    return Problem(404, "Not found", f"no post {post_id}", type_=TYPE_BASE + "not-found")



def pending(post: PostOut) -> bool:
    """Nothing has gone out: every target still waits (or missed its time for want of approval)."""
    return all(
        t.status == "scheduled" or (t.status == "failed" and t.error_class == ErrorClass.NOT_APPROVED)
        for t in post.targets
    ) and any(t.status != "cancelled" for t in post.targets)


def _under_way(post: PostOut) -> Problem:
    gone = [t for t in post.targets if t.status != "scheduled"]
    return Problem(
        409,
        "Already under way",
        "cannot change a post once a target has gone out or was cancelled: "
        + ", ".join(f"{t.platform} {t.account_id} is {t.status}" for t in gone)
        + ("; a target not yet out can still be cancelled (POST /v1/posts/{id}/cancel) and the post written anew"
           if any(t.status in ("due", "retrying") for t in gone) else "")
        + ("; a failed target is not sent again: copy the post with a new time, and the text or media "
           "fixed (POST /v1/posts/{id}/copy)" if any(t.status == "failed" for t in gone) else ""),
        type_=TYPE_BASE + "post-under-way",
    )


def review_after_edit(state: str, actor: Actor, policy: Policy) -> dict:
    """What changing a post's content does to its review (store.update_post's ``review``): the
    editor is recorded; an approved post goes back to review when review is required (what a
    reviewer approved is not what would go out any more), one in review is resubmitted by them."""
    review: dict = {"edited_by": actor.id}
    if state == "approved" and policy.review_required:
        review |= {"review_state": "in_review", "submitted_by": actor.id, "clear_reviewer": True}
    elif state == "in_review":
        review["submitted_by"] = actor.id
    return review


async def update_post(
    pool: asyncpg.Pool, post_id: UUID, req: PostUpdate, *, actor: Actor, policy: Policy
) -> PostOut:
    # New media are tried (before the row is locked); unchanged ones keep what was found of them.
    new_media = "media" in req.model_fields_set and req.media is not None
    answers = await look_at_media(policy, req.media) if new_media else {}  # type: ignore[arg-type]
    async with pool.acquire() as conn, conn.transaction():
        post = await store.get_post(conn, post_id, for_update=True)
        if post is None:
            raise not_found(post_id)
        if not pending(post):
            raise _under_way(post)
        fields = req.model_fields_set
        text = req.text if "text" in fields and req.text is not None else post.text
        media = req.media if "media" in fields and req.media is not None else post.media
        title = req.title if "title" in fields else post.title
        timezone = canonical(req.timezone) if "timezone" in fields else post.timezone
        if timezone is not None and timezone != post.timezone:
            try:  # checked here too: with no new time, nothing else reads it before the findings (a 500)
                zone(timezone)
            except TimeError as exc:
                raise Problem(422, "Invalid time", str(exc), type_=TYPE_BASE + "invalid-time") from exc
        campaign_id = req.campaign_id if "campaign_id" in fields else post.campaign_id
        moved = "scheduled_at" in fields and req.scheduled_at is not None
        if moved:
            if timezone is None and req.scheduled_at.tzinfo is None:  # type: ignore[union-attr]
                timezone = policy.timezone  # a local time without a zone is the library's
            scheduled_at = when(req.scheduled_at, timezone, policy.grace_seconds)  # type: ignore[arg-type]
        else:
            scheduled_at = post.scheduled_at
        targets = await resolve_targets(conn, [t.account_id for t in post.targets if t.status != "cancelled"])
        camp = await campaign(conn, campaign_id)
        texts = target_texts(targets, text, media, title, camp)
        check_content(targets, text, media, title, texts, answers)
        found = findings(policy, text=text, media=media, title=title, camp=camp, scheduled_at=scheduled_at,
                         timezone=timezone, answers=answers)
        if not new_media:
            found += media_findings(post)
        found += hashtags_left_out(targets, text, texts, camp)
        content_changed = (text, media, title, campaign_id) != (post.text, post.media, post.title, post.campaign_id)
        state = post.review.state
        review = review_after_edit(state, actor, policy) if content_changed else {}
        if state != "draft":
            refuse_blocking(found)
        await store.update_post(
            conn, post_id, text=text, media=media, title=title, scheduled_at=scheduled_at, timezone=timezone,
            campaign_id=campaign_id, target_texts=texts, review=review, findings=found,
            detached=True if post.series_id and (content_changed or moved) else None,
            revive_not_approved=moved,
        )
        updated = await store.get_post(conn, post_id)
        assert updated is not None
        await write_events(conn, SCHEMA, [updated_event(updated, camp)])
        changes = {
            name: {"from": audit_value(old), "to": audit_value(new)}
            for name, old, new in (
                ("text", post.text, text), ("media", post.media, media), ("title", post.title, title),
                ("scheduled_at", post.scheduled_at, scheduled_at), ("timezone", post.timezone, timezone),
                ("campaign_id", post.campaign_id, campaign_id),
            )
            if old != new
        }
        if review.get("review_state"):
            changes["review_state"] = {"from": state, "to": review["review_state"]}
        await plans.audit(conn, actor=actor.id, role=actor.role, action="post.updated", entity="post",
                          entity_id=post_id, details=changes)
    return updated


def audit_value(value):
    """A changed field's value as the audit log keeps it (posts' and series' "from"/"to"): times
    and ids as text, media as plain objects — a media link without its query, since every role
    reads the log and it is never cleaned, and a signed link's query is its signature."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list):
        return [audit_value(v) for v in value]
    if hasattr(value, "model_dump"):
        value = value.model_dump(exclude_none=True)
    if isinstance(value, dict) and isinstance(value.get("url"), str) and "?" in value["url"]:
        return value | {"url": value["url"].split("?", 1)[0] + "?\u2026"}
    return value


async def cancel_post(pool: asyncpg.Pool, post_id: UUID, reason: str, *, actor: Actor = SYSTEM) -> PostOut:
    async with pool.acquire() as conn, conn.transaction():
        post = await store.get_post(conn, post_id, for_update=True)
        if post is None:
            raise not_found(post_id)
        cancelled = await store.cancel_targets(conn, post_id, reason)
        if not cancelled:
            raise Problem(
                409,
                "Nothing left to cancel",
                "every target has already gone out or was cancelled: "
                + ", ".join(f"{t.platform} {t.account_id} is {t.status}" for t in post.targets),
                type_=TYPE_BASE + "post-under-way",
            )
        await write_events(conn, SCHEMA, [cancelled_event(post, cancelled, reason)])
        await plans.audit(
            conn, actor=actor.id, role=actor.role,
            action="post.skipped" if post.series_id else "post.cancelled",
            entity="post", entity_id=post_id,
            details={"reason": reason, "targets": [str(t) for t in cancelled],
                     **({"series_id": str(post.series_id), "occurrence": post.occurrence_key} if post.series_id else {})},
        )
        updated = await store.get_post(conn, post_id)
    assert updated is not None
    return updated


Announce = Callable[[list[CloudEvent]], Awaitable[None]]


async def dispatch_due(conn: asyncpg.Connection, limit: int, announce: Announce | None = None) -> list[asyncpg.Record]:
    """Claim targets whose time has come, in the caller's transaction: one post.due each for an
    approved post; for a post not approved by its time, post.failed (not_approved) and an audit
    entry instead — it does not go out, and says why.

    The events go straight to the broker when ``announce`` is given (the broker is connected):
    ``announce`` returns once the broker confirmed every one, still inside the claiming
    transaction, so the claim commits only after its events are safe, and one whose events were
    refused rolls back and is claimed again. Without ``announce`` they go to the outbox, which
    the relay publishes once the broker is back (see app.py)."""
    rows = await store.claim_due(conn, limit)
    if not rows:
        return rows
    events = []
    missed = []
    now = datetime.now(UTC)
    for r in rows:
        if r["status"] == "due":
            events.append(_event(
                PostDue(
                    post_id=str(r["post_id"]),
                    target_id=str(r["target_id"]),
                    account_id=r["account_id"],
                    platform=r["platform"],
                    due_at=r["due_at"],
                    text=r["text"],
                    media=[MediaItem(**m) for m in r["media"]],
                    title=r["title"],
                    campaign_id=str(r["campaign_id"]) if r["campaign_id"] else None,
                ),
                r["correlation_id"],
                f"target/{r['target_id']}",
            ))
        else:
            events.append(_event(
                PostFailed(
                    post_id=str(r["post_id"]),
                    target_id=str(r["target_id"]),
                    account_id=r["account_id"],
                    platform=r["platform"],
                    error_class=ErrorClass.NOT_APPROVED,
                    reason=r["reason"],
                    failed_at=now,
                    attempts=0,
                ),
                r["correlation_id"],
                f"target/{r['target_id']}",
            ))
            missed.append((SYSTEM.id, SYSTEM.role, "post.not_approved", "post", str(r["post_id"]),
                           {"target_id": str(r["target_id"]), "account_id": r["account_id"],
                            "review_state": r["review_state"], "reason": r["reason"]}))
    if missed:
        await plans.audit_many(conn, missed)
    if announce is not None:
        await announce(events)
    else:
        await write_events(conn, SCHEMA, events)
    return rows

"""Series of posts: a recurrence (RFC 5545 RRULE in the library's zone) or an event's countdown.

Each occurrence is an ordinary post (``posts.series_id`` + ``occurrence_key``: the local date,
or ``D-7`` for seven days before an event) with its own targets, so dispatch stays one mechanism
and every occurrence can be edited or skipped (cancelled) alone. A recurrence is materialised for
a rolling horizon (``SIAR_SERIES_HORIZON_DAYS``) that the "series-extend" due runner moves on
daily; a countdown is made whole at once.

Changing a series re-plans every occurrence that has not gone out: it follows the new content,
time and targets; one no longer in the plan is cancelled (post.cancelled) and removed. Occurrences
edited on their own (``detached``), skipped ones and those that went out are left as they are.
Cancelling a series (or its event) cancels everything that has not gone out, edited or not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from siar_runtime.outbox import write_events
from siar_runtime.problems import TYPE_BASE, Problem

from . import countdown as cd
from . import planning_store as plans
from . import recurrence, store
from .identity import SYSTEM, Actor, require_reviewer
from .policy import Policy
from .posts import (
    SCHEMA,
    NewPost,
    audit_value,
    campaign,
    cancelled_event,
    check_content,
    findings,
    hashtags_left_out,
    initial_state,
    insert_new,
    look_at_media,
    media_findings,
    refuse_blocking,
    resolve_targets,
    target_texts,
    updated_event,
)
from .review import own_work, refusal_audited, wrong_state
from .schemas import (
    EventCreate,
    EventUpdate,
    MediaIn,
    OccurrenceOut,
    ReviewOut,
    SeriesCreate,
    SeriesOut,
    SeriesUpdate,
)
from .timing import TimeError, canonical, local, resolve, zone

log = structlog.get_logger("siar.scheduler.series")

REMOVED = "no longer part of the series after it was changed"


@dataclass(frozen=True)
class Planned:
    key: str
    at: datetime
    text: str


def _problem(exc: Exception) -> Problem:
    return Problem(422, "Invalid series", str(exc), type_=TYPE_BASE + "invalid-series")


def _zone(name: str | None, policy: Policy) -> str:
    tz = canonical(name) or policy.timezone
    try:
        zone(tz)
    except TimeError as exc:
        raise Problem(422, "Invalid time", str(exc), type_=TYPE_BASE + "invalid-time") from exc
    return tz


def _local(value: datetime, tz: str, *, wall_clock: bool = False) -> datetime:
    """A naive local time in ``tz`` (an aware value is converted); refused if the zone skips it,
    except a series' start (``wall_clock``): its time of day is every occurrence's, and an
    occurrence on a day that skips it goes out just after the gap (recurrence.place), the first
    one included — as it would if the series had started a week earlier."""
    if wall_clock and value.tzinfo is None:
        zone(tz)  # checked by _zone already; a naive start is the rule's wall clock as given
        return value.replace(microsecond=0)
    try:
        instant = resolve(value, tz)
    except TimeError as exc:
        raise Problem(422, "Invalid time", str(exc), type_=TYPE_BASE + "invalid-time") from exc
    return instant.astimezone(zone(tz)).replace(tzinfo=None, microsecond=0)


# -- the plan: what posts a series wants ------------------------------------------------------


def recurrence_of(row) -> recurrence.Recurrence:
    return recurrence.Recurrence(rule=row["rrule"], start=row["starts_local"], timezone=row["timezone"],
                                 exdates=frozenset(row["exdates"] or ()))


def event_of(row) -> cd.Event:
    spec = row["countdown"]
    return cd.Event(
        title=spec["title"], starts=row["starts_local"], timezone=row["timezone"], place=spec.get("place"),
        link=spec.get("link"), days_before=tuple(spec["days_before"]),
        post_time=time.fromisoformat(spec.get("post_time", "09:00")), template=spec.get("template"),
        templates={int(k): v for k, v in (spec.get("templates") or {}).items()}, language=spec.get("language", "id"),
    )


def wanted(row, *, now: datetime, until: datetime) -> list[Planned]:
    if row["kind"] == "recurrence":
        return [Planned(o.key, o.at, row["text"]) for o in recurrence_of(row).occurrences(now, until)]
    return [Planned(p.key, p.at, p.text) for p in cd.posts(event_of(row)) if p.at >= now]


def horizon(policy: Policy, now: datetime) -> datetime:
    return now + timedelta(days=policy.horizon_days)


def _next_extension(row, now: datetime, until: datetime) -> datetime | None:
    if row["kind"] != "recurrence" or row["status"] != "active":
        return None
    last = recurrence_of(row).last()
    if last is not None and recurrence.place(last, zone(row["timezone"])) < until:
        return None  # every occurrence exists already
    return now + timedelta(days=1)


async def replan(conn: asyncpg.Connection, row, *, actor: Actor, policy: Policy, now: datetime | None = None,
                 answers: Mapping[str, Any] | None = None) -> dict:
    """Make the series' posts that have not gone out match the series (caller's transaction).
    ``answers``: its media links' (look_at_media), where they were just asked: each post carries
    their findings; without, a post whose media stay keeps the link findings it had."""
    now = now or datetime.now(UTC)
    until = max(horizon(policy, now), row["materialised_until"] or now)
    plan = {p.key: p for p in wanted(row, now=now, until=until)}
    targets = await resolve_targets(conn, list(row["targets"]), allow_inactive=True)
    camp = await campaign(conn, row["campaign_id"])
    media = [MediaIn(**m) for m in row["media"]]
    existing = await store.series_posts(conn, row["series_id"], for_update=True)
    events = []
    counts = {"created": 0, "updated": 0, "removed": 0}
    for post in existing:
        live = [t for t in post.targets if t.status != "cancelled"]
        if post.detached or not live or any(t.status != "scheduled" for t in post.targets) or post.scheduled_at < now:
            continue  # edited alone, skipped, gone out or going out now: left as it is
        planned = plan.get(post.occurrence_key or "")
        if planned is None:
            cancelled = await store.cancel_targets(conn, post.post_id, REMOVED)
            events.append(cancelled_event(post, cancelled, REMOVED))
            await store.delete_post(conn, post.post_id)
            counts["removed"] += 1
            continue
        texts = target_texts(targets, planned.text, media, row["title"], camp)
        found = findings(policy, text=planned.text, media=media, title=row["title"], camp=camp,
                         scheduled_at=planned.at, timezone=row["timezone"], answers=answers)
        if answers is None and post.media == media:
            found += media_findings(post)  # not asked again: what was found stays while the links do
        found += hashtags_left_out(targets, planned.text, texts, camp)
        same = (
            post.text == planned.text and post.media == media and post.title == row["title"]
            and post.scheduled_at == planned.at and post.campaign_id == row["campaign_id"]
            and post.timezone == row["timezone"] and post.review.state == row["review_state"]
            and {t.account_id: t.text for t in post.targets} == texts
        )
        if same:
            continue
        review = {}
        if post.review.state != row["review_state"]:
            review = {"review_state": row["review_state"], "submitted_by": row["submitted_by"] or row["created_by"],
                      "clear_reviewer": row["review_state"] != "approved"}
        await store.update_post(
            conn, post.post_id, text=planned.text, media=media, title=row["title"], scheduled_at=planned.at,
            timezone=row["timezone"], campaign_id=row["campaign_id"], review=review, findings=found,
        )
        await store.replace_targets(conn, post.post_id, [(a.account_id, a.platform, texts[a.account_id]) for a in targets],
                                    planned.at)
        updated = await store.get_post(conn, post.post_id)
        assert updated is not None
        events.append(updated_event(updated, camp))
        counts["updated"] += 1
    have = {p.occurrence_key for p in existing}
    for key, planned in plan.items():
        if key in have:
            continue
        texts = target_texts(targets, planned.text, media, row["title"], camp)
        new = NewPost(
            text=planned.text, media=media, title=row["title"], scheduled_at=planned.at, timezone=row["timezone"],
            targets=targets, review_state=row["review_state"], created_by=row["created_by"], camp=camp, texts=texts,
            found=findings(policy, text=planned.text, media=media, title=row["title"], camp=camp,
                           scheduled_at=planned.at, timezone=row["timezone"], answers=answers)
            + hashtags_left_out(targets, planned.text, texts, camp),
            series_id=row["series_id"], occurrence_key=key,
            submitted_by=row["submitted_by"], reviewed_by=row["reviewed_by"],
        )
        await insert_new(conn, new, actor, details={"made_by": row["kind"]})
        counts["created"] += 1
    await write_events(conn, SCHEMA, events)
    next_at = _next_extension(row, now, until)
    await plans.update_series(
        conn, row["series_id"], bump=False,
        materialised_until=until if row["kind"] == "recurrence" else None, extend_at=next_at,
    )
    return counts


# -- reading ----------------------------------------------------------------------------------


async def out(conn: asyncpg.Connection, series_id: UUID) -> SeriesOut:
    row = await plans.get_series(conn, series_id)
    if row is None:
        raise _not_found(series_id)
    posts = await store.series_posts(conn, series_id)
    return _out(row, posts)


def _out(row, posts) -> SeriesOut:
    spec = dict(row["countdown"]) if row["countdown"] else None
    return SeriesOut(
        series_id=row["series_id"], kind=row["kind"], status=row["status"], text=row["text"],
        media=[MediaIn(**m) for m in row["media"]], title=row["title"], targets=list(row["targets"]),
        campaign_id=row["campaign_id"], timezone=row["timezone"], start=row["starts_local"], rrule=row["rrule"],
        exdates=sorted(row["exdates"] or []), event=spec,
        review=ReviewOut(
            state=row["review_state"], created_by=row["created_by"], edited_by=row["edited_by"],
            submitted_by=row["submitted_by"], submitted_at=row["submitted_at"], reviewed_by=row["reviewed_by"],
            reviewed_at=row["reviewed_at"], comment=row["review_comment"],
        ),
        cancel_reason=row["cancel_reason"], materialised_until=row["materialised_until"], version=row["version"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        occurrences=[
            OccurrenceOut(post_id=p.post_id, occurrence_key=p.occurrence_key or "", scheduled_at=p.scheduled_at,
                          scheduled_local=local(p.scheduled_at, p.timezone), status=p.status, detached=p.detached)
            for p in posts
        ],
    )


async def list_all(conn: asyncpg.Connection, kind: str, *, include_cancelled: bool) -> list[SeriesOut]:
    rows = await plans.list_series(conn, kind, include_cancelled=include_cancelled)
    return [_out(r, await store.series_posts(conn, r["series_id"])) for r in rows]


def _not_found(series_id: UUID) -> Problem:
    return Problem(404, "Not found", f"no series or event {series_id}", type_=TYPE_BASE + "not-found")


async def _locked(conn: asyncpg.Connection, series_id: UUID, kind: str | None = None):
    row = await plans.get_series(conn, series_id, for_update=True)
    if row is None or (kind and row["kind"] != kind):
        raise _not_found(series_id)
    if row["status"] == "cancelled":
        raise Problem(409, "Cancelled", f"it was cancelled: {row['cancel_reason']}", type_=TYPE_BASE + "series-cancelled")
    return row


# -- checking the content of a series ---------------------------------------------------------


async def _check(conn, policy: Policy, *, texts: list[tuple[str, datetime | None]], media, title, account_ids,
                 campaign_id, tz: str, draft: bool, answers=None):
    """Refuse what a platform or the library's checks would refuse in any of the texts; with
    ``answers`` (look_at_media), the media links' findings and the sizes their servers said too."""
    targets = await resolve_targets(conn, account_ids)
    camp = await campaign(conn, campaign_id)
    for text, at in texts:
        check_content(targets, text, media, title, target_texts(targets, text, media, title, camp), answers)
        if not draft:
            refuse_blocking(findings(policy, text=text, media=media, title=title, camp=camp, scheduled_at=at,
                                     timezone=tz, answers=answers))
    return targets, camp


# -- recurrences ------------------------------------------------------------------------------


def _rule(rrule: str, start: datetime, tz: str, *, until: date | None, count: int | None, exdates) -> recurrence.Recurrence:
    try:
        return recurrence.parse(rrule, start, tz, until=until, count=count, exdates=exdates)
    except recurrence.RecurrenceError as exc:
        raise _problem(exc) from exc


async def create_series(pool: asyncpg.Pool, req: SeriesCreate, *, actor: Actor, policy: Policy) -> SeriesOut:
    tz = _zone(req.timezone, policy)
    start = _local(req.start, tz, wall_clock=True)
    rule = _rule(req.rrule, start, tz, until=req.until, count=req.count, exdates=req.exdates)
    now = datetime.now(UTC)
    last = rule.last()
    if last is not None and recurrence.place(last, rule.tz) < now:
        raise _problem(ValueError("every date of this series is in the past"))
    series_id = uuid.uuid4()
    state = initial_state(policy, draft=req.draft)
    answers = await look_at_media(policy, req.media)  # before a connection is taken, as for one post
    async with pool.acquire() as conn, conn.transaction():
        await _check(conn, policy, texts=[(req.text, None)], media=req.media, title=req.title,
                     account_ids=req.targets, campaign_id=req.campaign_id, tz=tz, draft=req.draft, answers=answers)
        await plans.insert_series(
            conn, series_id=series_id, kind="recurrence", text=req.text,
            media=[m.model_dump(exclude_none=True) for m in req.media], title=req.title, targets=req.targets,
            campaign_id=req.campaign_id, timezone=tz, starts_local=start, rrule=rule.rule,
            exdates=sorted(rule.exdates), review_state=state, created_by=actor.id, edited_by=actor.id,
            submitted_by=None if req.draft else actor.id,
        )
        row = await plans.get_series(conn, series_id)
        counts = await replan(conn, row, actor=actor, policy=policy, now=now, answers=answers)
        await plans.audit(conn, actor=actor.id, role=actor.role, action="series.created", entity="series",
                          entity_id=series_id, details={"rrule": rule.rule, "start": start.isoformat(), "timezone": tz,
                                                        "text": req.text, "targets": req.targets, "review_state": state,
                                                        **counts})
        return await out(conn, series_id)


async def update_series(pool: asyncpg.Pool, series_id: UUID, req: SeriesUpdate, *, actor: Actor, policy: Policy) -> SeriesOut:
    fields = req.model_fields_set
    answers = await look_at_media(policy, req.media) if "media" in fields and req.media else None
    async with pool.acquire() as conn, conn.transaction():
        row = await _locked(conn, series_id, "recurrence")
        tz = _zone(req.timezone, policy) if "timezone" in fields and req.timezone else row["timezone"]
        start = _local(req.start, tz, wall_clock=True) if "start" in fields and req.start else row["starts_local"]
        if "rrule" in fields and req.rrule:
            base = req.rrule
        else:
            base = row["rrule"]
            if fields & {"until", "count"}:
                base = ";".join(p for p in base.split(";") if not p.startswith(("UNTIL=", "COUNT=")))
        if "rrule" in fields and req.rrule is None:
            raise _problem(ValueError("a series needs a rule"))
        exdates = req.exdates if "exdates" in fields and req.exdates is not None else list(row["exdates"] or [])
        rule = _rule(base, start, tz, until=req.until if "until" in fields else None,
                     count=req.count if "count" in fields else None, exdates=exdates)
        values = {
            "text": req.text if "text" in fields and req.text is not None else row["text"],
            "media": [m.model_dump(exclude_none=True) for m in req.media] if "media" in fields and req.media is not None else row["media"],
            "title": req.title if "title" in fields else row["title"],
            "targets": req.targets if "targets" in fields and req.targets else list(row["targets"]),
            "campaign_id": req.campaign_id if "campaign_id" in fields else row["campaign_id"],
            "timezone": tz, "starts_local": start, "rrule": rule.rule, "exdates": sorted(rule.exdates),
        }
        return await _apply_update(conn, row, values, actor=actor, policy=policy,
                                   texts=[(values["text"], None)], answers=answers)


async def _apply_update(conn, row, values: dict, *, actor: Actor, policy: Policy, texts, answers=None) -> SeriesOut:
    """``answers``: the new media links' (look_at_media), when the media changed."""
    media = [MediaIn(**m) for m in values["media"]]
    await _check(conn, policy, texts=texts, media=media, title=values["title"], account_ids=values["targets"],
                 campaign_id=values["campaign_id"], tz=values["timezone"], draft=row["review_state"] == "draft",
                 answers=answers)
    changes = {k: {"from": audit_value(row[k]), "to": audit_value(v)} for k, v in values.items() if row[k] != v}
    content = {"text", "media", "title", "campaign_id", "countdown"} & set(changes)
    if set(values["targets"]) != set(row["targets"]):
        # Other accounts are other audiences: what a reviewer approved was to go out on these.
        content.add("targets")
    if content:
        values["edited_by"] = actor.id
        if row["review_state"] == "approved" and policy.review_required:
            values |= {"review_state": "in_review", "submitted_by": actor.id, "reviewed_by": None, "reviewed_at": None}
            changes["review_state"] = {"from": "approved", "to": "in_review"}
        elif row["review_state"] == "in_review":
            values["submitted_by"] = actor.id
    await plans.update_series(conn, row["series_id"], **values)
    row = await plans.get_series(conn, row["series_id"])
    counts = await replan(conn, row, actor=actor, policy=policy, answers=answers)
    await plans.audit(conn, actor=actor.id, role=actor.role, action=f"{_entity(row)}.updated", entity=_entity(row),
                      entity_id=row["series_id"], details=changes | {"occurrences": counts})
    return await out(conn, row["series_id"])


def _entity(row) -> str:
    return "series" if row["kind"] == "recurrence" else "event"


# -- event countdowns ------------------------------------------------------------------------


def _spec(title: str, place: str | None, link: str | None, days_before: list[int], post_time: time,
          template: str | None, templates: dict[int, str], language: str) -> dict:
    for t in [template, *templates.values()]:
        if t is not None:
            try:
                cd.check_template(t)
            except cd.TemplateError as exc:
                raise _problem(exc) from exc
    unused = sorted(set(templates) - set(days_before))
    if unused:  # a text for a day with no post would silently never be used
        raise _problem(ValueError(
            f"templates for {', '.join(map(str, unused))} days before: no countdown post is on that day"
            f" (days_before is {', '.join(map(str, sorted(set(days_before), reverse=True)))})"))
    return {
        "title": title, "place": place, "link": link, "days_before": sorted(set(days_before), reverse=True),
        "post_time": post_time.strftime("%H:%M"), "template": template,
        "templates": {str(k): v for k, v in sorted(templates.items())}, "language": language,
    }


def _event_texts(row_like: dict) -> list[tuple[str, datetime]]:
    return [(p.text, p.at) for p in cd.posts(event_of(row_like))]


async def create_event(pool: asyncpg.Pool, req: EventCreate, *, actor: Actor, policy: Policy) -> SeriesOut:
    tz = _zone(req.timezone, policy)
    starts = _local(req.starts_at, tz)
    spec = _spec(req.title, req.place, req.link, req.days_before, req.post_time, req.template, req.templates, req.language)
    row_like = {"countdown": spec, "starts_local": starts, "timezone": tz}
    now = datetime.now(UTC)
    planned = [p for p in cd.posts(event_of(row_like)) if p.at >= now]
    if not planned:
        raise _problem(ValueError("every countdown post of this event would be in the past"))
    series_id = uuid.uuid4()
    state = initial_state(policy, draft=req.draft)
    answers = await look_at_media(policy, req.media)  # before a connection is taken, as for one post
    async with pool.acquire() as conn, conn.transaction():
        await _check(conn, policy, texts=[(p.text, p.at) for p in planned], media=req.media, title=req.video_title,
                     account_ids=req.targets, campaign_id=req.campaign_id, tz=tz, draft=req.draft, answers=answers)
        await plans.insert_series(
            conn, series_id=series_id, kind="countdown", text=req.template or cd.DEFAULT_TEMPLATES[req.language],
            media=[m.model_dump(exclude_none=True) for m in req.media], title=req.video_title, targets=req.targets,
            campaign_id=req.campaign_id, timezone=tz, starts_local=starts, countdown=spec, review_state=state,
            created_by=actor.id, edited_by=actor.id, submitted_by=None if req.draft else actor.id,
        )
        row = await plans.get_series(conn, series_id)
        counts = await replan(conn, row, actor=actor, policy=policy, now=now, answers=answers)
        await plans.audit(conn, actor=actor.id, role=actor.role, action="event.created", entity="event",
                          entity_id=series_id, details={"event": spec, "starts": starts.isoformat(), "timezone": tz,
                                                        "targets": req.targets, "review_state": state, **counts})
        return await out(conn, series_id)


async def update_event(pool: asyncpg.Pool, series_id: UUID, req: EventUpdate, *, actor: Actor, policy: Policy) -> SeriesOut:
    fields = req.model_fields_set
    answers = await look_at_media(policy, req.media) if "media" in fields and req.media else None
    async with pool.acquire() as conn, conn.transaction():
        row = await _locked(conn, series_id, "countdown")
        old = dict(row["countdown"])
        tz = _zone(req.timezone, policy) if "timezone" in fields and req.timezone else row["timezone"]
        starts = _local(req.starts_at, tz) if "starts_at" in fields and req.starts_at else row["starts_local"]

        def pick(name):
            return getattr(req, name) if name in fields and getattr(req, name) is not None else old.get(name)

        post_time = req.post_time if "post_time" in fields and req.post_time else time.fromisoformat(old["post_time"])
        if "templates" in fields and req.templates is not None:
            templates = req.templates
        else:  # kept for the days that still have a post; a day dropped takes its text with it
            templates = {int(k): v for k, v in (old.get("templates") or {}).items() if int(k) in pick("days_before")}
        spec = _spec(pick("title"), req.place if "place" in fields else old.get("place"),
                     req.link if "link" in fields else old.get("link"), pick("days_before"), post_time,
                     req.template if "template" in fields else old.get("template"), templates, pick("language"))
        values = {
            "text": spec["template"] or cd.DEFAULT_TEMPLATES[spec["language"]],
            "media": [m.model_dump(exclude_none=True) for m in req.media] if "media" in fields and req.media is not None else row["media"],
            "title": req.video_title if "video_title" in fields else row["title"],
            "targets": req.targets if "targets" in fields and req.targets else list(row["targets"]),
            "campaign_id": req.campaign_id if "campaign_id" in fields else row["campaign_id"],
            "timezone": tz, "starts_local": starts, "countdown": spec,
        }
        now = datetime.now(UTC)
        texts = [(t, at) for t, at in _event_texts(values) if at >= now]
        return await _apply_update(conn, row, values, actor=actor, policy=policy, texts=texts, answers=answers)


# -- cancelling and review -------------------------------------------------------------------


async def cancel(pool: asyncpg.Pool, series_id: UUID, reason: str, *, actor: Actor, kind: str) -> SeriesOut:
    async with pool.acquire() as conn, conn.transaction():
        row = await _locked(conn, series_id, kind)
        events = []
        cancelled_posts = 0
        for post in await store.series_posts(conn, series_id, for_update=True):
            if any(t.status == "scheduled" for t in post.targets):
                cancelled = await store.cancel_targets(conn, post.post_id, reason)
                if cancelled:
                    events.append(cancelled_event(post, cancelled, reason))
                    cancelled_posts += 1
        await write_events(conn, SCHEMA, events)
        await plans.update_series(conn, series_id, status="cancelled", cancel_reason=reason, extend_at=None)
        await plans.audit(conn, actor=actor.id, role=actor.role, action=f"{_entity(row)}.cancelled",
                          entity=_entity(row), entity_id=series_id, details={"reason": reason, "posts": cancelled_posts})
        return await out(conn, series_id)


async def review(pool: asyncpg.Pool, series_id: UUID, action: str, *, actor: Actor, policy: Policy,
                 comment: str | None = None, kind: str | None = None) -> SeriesOut:
    """submit, approve or send_back a whole series: its occurrences not edited alone follow.
    ``kind`` (recurrence or countdown): the route's, so /v1/events/{id} never reviews a series."""
    if action == "submit":
        return await _review(pool, series_id, action, actor=actor, policy=policy, comment=comment, kind=kind)
    entity = "event" if kind == "countdown" else "series"

    async def exists(conn: asyncpg.Connection) -> bool:  # and is what the route names (a series or an event)
        row = await plans.get_series(conn, series_id)
        return row is not None and (kind is None or row["kind"] == kind)

    async with refusal_audited(pool, actor, action, entity, series_id, exists):
        require_reviewer(actor)
        return await _review(pool, series_id, action, actor=actor, policy=policy, comment=comment, kind=kind)


async def _review(pool: asyncpg.Pool, series_id: UUID, action: str, *, actor: Actor, policy: Policy,
                  comment: str | None, kind: str | None) -> SeriesOut:
    answers = None
    if action == "submit":  # a draft's links are tried when it is submitted, as a post's are
        async with pool.acquire() as conn:
            draft = await plans.get_series(conn, series_id)
        if draft is not None and draft["media"]:
            answers = await look_at_media(policy, [MediaIn(**m) for m in draft["media"]])
    async with pool.acquire() as conn, conn.transaction():
        row = await _locked(conn, series_id, kind)
        state = row["review_state"]
        what = "series" if row["kind"] == "recurrence" else "event promotion"
        values: dict = {}
        if action == "submit":
            if state != "draft":
                raise wrong_state(what, state, "only a draft is submitted")
            media = [MediaIn(**m) for m in row["media"]]
            texts = [(row["text"], None)] if row["kind"] == "recurrence" else _event_texts(dict(row))
            await _check(conn, policy, texts=texts, media=media, title=row["title"], account_ids=list(row["targets"]),
                         campaign_id=row["campaign_id"], tz=row["timezone"], draft=False, answers=answers)
            new_state = "in_review" if policy.review_required else "approved"
            values = {"review_state": new_state, "submitted_by": actor.id, "reviewed_by": None, "reviewed_at": None}
        elif action == "approve":
            if state != "in_review":
                raise wrong_state(what, state, "only one in review is approved")
            own_work(actor, row["created_by"], row["edited_by"], row["submitted_by"])
            values = {"review_state": "approved", "reviewed_by": actor.id, "reviewed_at": datetime.now(UTC),
                      "review_comment": comment}
        else:
            if state == "draft":
                raise wrong_state(what, state, "it is with its author already")
            values = {"review_state": "draft", "reviewed_by": actor.id, "reviewed_at": datetime.now(UTC),
                      "review_comment": comment}
        await plans.update_series(conn, series_id, **values)
        row = await plans.get_series(conn, series_id)
        counts = await replan(conn, row, actor=actor, policy=policy, answers=answers)
        await plans.audit(conn, actor=actor.id, role=actor.role, action=f"{_entity(row)}.{_past(action)}",
                          entity=_entity(row), entity_id=series_id,
                          details={"review_state": row["review_state"], "occurrences": counts,
                                   **({"comment": comment} if comment else {})})
        return await out(conn, series_id)


def _past(action: str) -> str:
    return {"submit": "submitted", "approve": "approved", "send_back": "sent_back"}[action]


# -- the rolling horizon ----------------------------------------------------------------------


async def extend_due(conn: asyncpg.Connection, limit: int, *, policy: Policy) -> list:
    """DueRunner claim: extend every series whose horizon is due to move on (one savepoint each,
    so one broken series cannot hold the others back; it is tried again in an hour)."""
    rows = await plans.claim_extensions(conn, limit)
    for row in rows:
        try:
            async with conn.transaction():
                await replan(conn, row, actor=SYSTEM, policy=policy)
        except Exception as exc:
            log.warning("could not extend a series; will try again in an hour", series_id=str(row["series_id"]),
                        error=str(exc))
            await plans.update_series(conn, row["series_id"], bump=False,
                                      extend_at=datetime.now(UTC) + timedelta(hours=1))
    return rows


def extension_claim(policy: Policy):
    return partial(extend_due, policy=policy)


async def keep_extending(runner, *, poll_seconds: float = 300.0) -> None:
    """Run the "series-extend" DueRunner's passes on a timer rather than ``runner.start()``:
    extensions are a day apart, so this needs no LISTEN connection of its own; the claim and the
    "next due" query are the due runner's, on the pool."""
    while True:
        try:
            await runner.run_once()
            delay = await runner.seconds_until_next()
            await asyncio.sleep(poll_seconds if delay is None else min(max(delay, 1.0), poll_seconds))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("series extension failed; will retry", error=str(exc))
            await asyncio.sleep(60)

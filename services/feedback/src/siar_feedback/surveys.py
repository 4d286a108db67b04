"""What the feedback service does with surveys: define, change, open and close them, and announce
each opening and closing through the outbox. The HTTP layer and the due runner call these."""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
from siar_contracts import (
    LocalizedText,
    SurveyAnnouncement,
    SurveyClosed,
    SurveyLink,
    SurveyOpened,
    spec_for_model,
)
from siar_runtime import audit as audit_log
from siar_runtime import zones
from siar_runtime.auth import Caller
from siar_runtime.outbox import write_events
from siar_runtime.problems import TYPE_BASE, Problem

from . import results, store
from .channels import CHANNELS
from .schemas import AnnounceTarget, Survey, SurveyCreate, SurveyLinkOut, SurveyUpdate

SOURCE = "/siar/feedback"
SCHEMA = "feedback"


def event(model, correlation_id: str, subject: str):
    return spec_for_model(type(model)).envelope(model, source=SOURCE, correlation_id=correlation_id, subject=subject)


def survey_ref(value: str) -> UUID | str:
    """A survey named by its id or its slug."""
    try:
        return UUID(value)
    except ValueError:
        return value.strip().lower()


def _invalid(detail: str, field: str | None = None) -> Problem:
    extra = {"errors": [{"field": field, "message": detail}]} if field else {}
    return Problem(422, "Invalid survey", detail, type_=TYPE_BASE + "validation", **extra)


def _instant(value: datetime | None, timezone: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC)


def _zone(timezone: str) -> str:
    """The zone's IANA name (WITA as people write it: Asia/Makassar), or the same 422 for every
    name that is not a zone (siar_runtime.zones: Mars/Base, Asia, ../etc/passwd, zone.tab, a name
    too long)."""
    name = zones.canonical(timezone) or timezone
    try:
        zones.zone(name)
    except zones.UnknownZone as exc:
        raise _invalid(str(exc), "timezone") from exc
    return name


def _check_announce(announce: list[AnnounceTarget], channels: list[str]) -> list[AnnounceTarget]:
    checked = []
    for i, target in enumerate(announce):
        channel = target.channel or (target.platform if target.platform in CHANNELS else None)
        if channel is None or channel not in channels:
            raise _invalid(
                f"announce[{i}] ({target.platform}) needs a link: add "
                f"{channel or 'a channel'!r} to the survey's channels or name one of them",
                f"announce.{i}.channel",
            )
        checked.append(target.model_copy(update={"channel": channel}))
    return checked


def _check_dates(opens_at: datetime | None, closes_at: datetime | None) -> None:
    if opens_at and closes_at and closes_at <= opens_at:
        raise _invalid("closes_at must be after opens_at", "closes_at")


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:40].strip("-") or "survei"
    return f"{base}-{secrets.token_hex(2)}"


def link(base_url: str, slug: str, channel: str | None = None) -> str:
    return f"{base_url}/s/{slug}" + (f"?{urlencode({'ch': channel})}" if channel else "")


def with_links(survey: Survey, base_url: str) -> Survey:
    links = [SurveyLinkOut(channel="direct", url=link(base_url, survey.slug))]
    links += [SurveyLinkOut(channel=c, url=link(base_url, survey.slug, c)) for c in survey.channels]
    return survey.model_copy(update={"links": links})


async def create_survey(pool: asyncpg.Pool, body: SurveyCreate, *, actor: Caller) -> Survey:
    timezone = _zone(body.timezone)
    values: dict[str, Any] = body.model_dump(exclude={"slug", "questions"})
    values.update(
        title=body.title, intro=body.intro, thank_you=body.thank_you, announce_text=body.announce_text,
        opens_at=_instant(body.opens_at, timezone),
        closes_at=_instant(body.closes_at, timezone), timezone=timezone,
        announce=_check_announce(body.announce, body.channels),
    )
    _check_dates(values["opens_at"], values["closes_at"])
    survey_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        created = await store.insert_survey(
            conn, survey_id=survey_id, slug=body.slug or slugify(body.title.id), values=values,
            questions=body.questions, correlation_id=str(uuid.uuid4()), created_by=actor.actor_id,
        )
        if not created:
            raise Problem(409, "Slug taken", f"another survey already uses the slug {body.slug!r}",
                          type_=TYPE_BASE + "slug-taken")
        survey = await store.get_survey(conn, survey_id)
        assert survey is not None
        await _audit(conn, actor, "survey.created", survey, {"slug": survey.slug, "questions": len(survey.questions)})
    return survey


async def _audit(conn: asyncpg.Connection, actor: Caller | None, action: str, survey: Survey,
                 details: dict[str, Any] | None = None) -> None:
    """An entry in the audit log, naming the survey by its title; ``actor`` None: Siar itself (a
    survey's dates)."""
    await audit_log.append(conn, actor=actor.actor_id if actor else audit_log.SYSTEM_ACTOR,
                           role=actor.role if actor else audit_log.SYSTEM_ROLE,
                           action=action, entity="survey", entity_id=survey.survey_id,
                           details={"title": survey.title.id} | (details or {}))


async def _locked(conn: asyncpg.Connection, ref: UUID | str) -> Survey:
    survey = await store.get_survey(conn, ref, lock=True)
    if survey is None:
        raise Problem(404, "Not found", f"no survey {ref}", type_=TYPE_BASE + "not-found")
    return survey


DATE_FIELDS = frozenset({"opens_at", "closes_at", "timezone"})
"""What a closed survey lets change: its dates (and the zone they are given in), so that one closed
by its closing date can have a later one and open again."""


ANNOUNCEMENT_FIELDS = frozenset({"title", "announce", "announce_text", "announce_language"})
"""What the announcement posts say or where they go: whoever changes one is named as their editor."""


async def update_survey(pool: asyncpg.Pool, ref: UUID | str, body: SurveyUpdate, *, actor: Caller) -> Survey:
    """Change what is given. A closed survey changes only its dates; an open one cannot move its
    opening date into the future (close it first: it then opens again as scheduled, as /open
    does with a future opens_at); a scheduled one keeps an opening date to open at."""
    given = body.model_fields_set
    async with pool.acquire() as conn, conn.transaction():
        survey = await _locked(conn, ref)
        if survey.status == "closed" and not given <= DATE_FIELDS:
            raise Problem(
                409, "Survey closed",
                f"a closed survey cannot change its {', '.join(sorted(given - DATE_FIELDS))}; only its dates "
                "(opens_at, closes_at, timezone) change while it is closed, so it can open again; "
                "open it again first to change the rest",
                type_=TYPE_BASE + "survey-closed",
            )
        if "questions" in given and survey.status != "draft":
            raise Problem(
                409, "Questions fixed",
                "questions can only change while the survey is a draft: answers already given would no "
                "longer match them", type_=TYPE_BASE + "questions-fixed",
            )
        for name in ("title", "timezone", "channels", "one_response_per_patron", "rate_limit_per_minute",
                     "announce", "announce_language"):
            if name in given and getattr(body, name) is None:
                raise _invalid(f"{name} cannot be null", name)
        timezone = _zone(body.timezone if "timezone" in given else survey.timezone)  # type: ignore[arg-type]
        values: dict[str, Any] = {name: getattr(body, name) for name in given if name != "questions"}
        if "timezone" in given:
            values["timezone"] = timezone
        for name in ("opens_at", "closes_at"):
            if name in given:
                values[name] = _instant(getattr(body, name), timezone)
        opens_at = values.get("opens_at", survey.opens_at)
        closes_at = values.get("closes_at", survey.closes_at)
        _check_dates(opens_at, closes_at)
        now = datetime.now(UTC)
        if survey.status == "open" and "opens_at" in given and opens_at and opens_at > now:
            raise Problem(
                409, "Already open",
                "the survey is open already, so its opening date cannot move into the future; to open it "
                "later instead, close it, set the new opens_at and open it again (it waits, scheduled, "
                "until then)", type_=TYPE_BASE + "already-open",
            )
        if survey.status == "scheduled" and "opens_at" in given and opens_at is None:
            raise Problem(
                409, "Survey scheduled",
                "a scheduled survey opens at its opens_at, which cannot be removed; set it to now to open "
                "the survey at once", type_=TYPE_BASE + "survey-scheduled",
            )
        if survey.status == "open" and closes_at and closes_at <= now:
            raise _invalid("closes_at is in the past; close the survey instead", "closes_at")
        channels = values.get("channels", survey.channels)
        values["announce"] = _check_announce(values.get("announce", survey.announce), channels)
        if given & ANNOUNCEMENT_FIELDS:
            values["announce_edited_by"] = actor.actor_id
        await store.update_survey(conn, survey.survey_id, values)
        if body.questions is not None:
            await store.replace_questions(conn, survey.survey_id, body.questions)
        updated = await store.get_survey(conn, survey.survey_id)
        assert updated is not None
        if given:  # an empty PATCH changed nothing; a renamed survey is logged under its new title
            await _audit(conn, actor, "survey.updated", updated, {"fields": sorted(given)}
                         | ({"was": survey.title.id} if updated.title.id != survey.title.id else {}))
    return updated


async def opened_event_for(conn: asyncpg.Connection, survey: Survey, base_url: str) -> Any:
    """survey.opened naming who created the survey and who last changed its announcement."""
    people = await conn.fetchrow("SELECT created_by, announce_edited_by FROM surveys WHERE survey_id = $1",
                                 survey.survey_id)  # fmt: skip
    return opened_event(survey, base_url, created_by=people["created_by"], edited_by=people["announce_edited_by"])


def opened_event(survey: Survey, base_url: str, *, created_by: str | None = None,
                 edited_by: str | None = None) -> Any:  # fmt: skip
    lang = survey.announce_language
    title = survey.title.get(lang)
    announce = []
    for target in survey.announce:
        url = link(base_url, survey.slug, target.channel)
        if survey.announce_text:
            text = f"{survey.announce_text.get(lang)}\n\n{url}"
        elif lang == "en":
            text = f"{title}\n\nTell us what you think: {url}"
        else:
            text = f"{title}\n\nBantu kami menjadi lebih baik, isi survei ini: {url}"
        announce.append(SurveyAnnouncement(
            platform=target.platform, account_id=target.account_id, channel=target.channel or "direct",
            url=url, text=text,
        ))
    payload = SurveyOpened(
        survey_id=str(survey.survey_id),
        slug=survey.slug,
        title=LocalizedText(id=survey.title.id, en=survey.title.en),
        opens_at=survey.opened_at or survey.opens_at or datetime.now(UTC),
        closes_at=survey.closes_at,
        links=[SurveyLink(channel=ln.channel, url=ln.url) for ln in with_links(survey, base_url).links],
        announce=announce,
        created_by=created_by,
        edited_by=edited_by,
    )
    return event(payload, survey.correlation_id, f"survey/{survey.survey_id}")


async def closed_event(conn: asyncpg.Connection, survey: Survey) -> Any:
    found = await results.results(conn, survey)
    payload = SurveyClosed(
        survey_id=str(survey.survey_id),
        slug=survey.slug,
        closed_at=survey.closed_at or datetime.now(UTC),
        reason=survey.close_reason or "closed_by_person",
        responses=found.responses,
        average_rating=found.average_rating,
        csat=found.csat,
        nps=found.nps,
    )
    return event(payload, survey.correlation_id, f"survey/{survey.survey_id}")


async def open_survey(
    pool: asyncpg.Pool, ref: UUID | str, *, base_url: str, actor: Caller, announce: list[AnnounceTarget] | None = None,
) -> Survey:
    """Open now (survey.opened), or at opens_at when that is still ahead. Opening an open or
    scheduled survey changes nothing; a closed one opens again, once its closing date (if any) is
    ahead: one closed by that date is first given a later one (update_survey lets a closed survey
    change its dates)."""
    async with pool.acquire() as conn, conn.transaction():
        survey = await _locked(conn, ref)
        if survey.status in ("open", "scheduled") and announce is None:
            return survey
        if survey.status == "open":
            raise Problem(409, "Already open", "the survey is open already; its announcements went out when it opened",
                          type_=TYPE_BASE + "already-open")
        now = datetime.now(UTC)
        if survey.closes_at and survey.closes_at <= now:
            raise Problem(409, "Closing date passed", "the closing date has passed; set a later closes_at first "
                          "(PATCH the survey; a closed survey's dates can change), then open it",
                          type_=TYPE_BASE + "closing-date-passed")
        targets = _check_announce(announce, survey.channels) if announce is not None else None
        editor = actor.actor_id if targets is not None else None  # a new announce list: its accounts are theirs
        announced = {"announce": [t.model_dump(mode="json") for t in targets]} if targets is not None else {}
        if survey.opens_at and survey.opens_at > now:
            await store.set_status(conn, survey.survey_id, "scheduled", announce=targets, announce_edited_by=editor)
            await _audit(conn, actor, "survey.scheduled", survey, {"opens_at": survey.opens_at.isoformat()} | announced)
        else:
            await _audit(conn, actor, "survey.opened", survey, announced)
            await store.set_status(conn, survey.survey_id, "open", announce=targets, announce_edited_by=editor,
                                   opens_at=None if survey.opens_at else now)
            opened = await store.get_survey(conn, survey.survey_id)
            assert opened is not None
            await write_events(conn, SCHEMA, [await opened_event_for(conn, opened, base_url)])
        updated = await store.get_survey(conn, survey.survey_id)
    assert updated is not None
    return updated


async def close_survey(pool: asyncpg.Pool, ref: UUID | str, *, actor: Caller) -> Survey:
    async with pool.acquire() as conn, conn.transaction():
        survey = await _locked(conn, ref)
        if survey.status not in ("open", "scheduled"):
            raise Problem(409, "Not open", f"the survey is {survey.status}; only an open or scheduled survey closes",
                          type_=TYPE_BASE + "not-open")
        await store.set_status(conn, survey.survey_id, "closed", close_reason="closed_by_person")
        await _audit(conn, actor, "survey.closed", survey, {"was": survey.status})
        closed = await store.get_survey(conn, survey.survey_id)
        assert closed is not None
        if survey.status == "open":
            await write_events(conn, SCHEMA, [await closed_event(conn, closed)])
    return closed


async def apply_dates(conn: asyncpg.Connection, limit: int, *, base_url: str) -> list[UUID]:
    """Due-runner claim: open the scheduled surveys whose opening date has come and close the open
    ones whose closing date has passed, each with its event, in the caller's transaction."""
    opened = await store.claim_openings(conn, limit)
    events = []
    for survey_id in opened:
        survey = await store.get_survey(conn, survey_id)
        assert survey is not None
        events.append(await opened_event_for(conn, survey, base_url))
        await _audit(conn, None, "survey.opened", survey, {"by": "its opening date"})
    closed = await store.claim_closings(conn, limit)
    for survey_id in closed:
        survey = await store.get_survey(conn, survey_id)
        assert survey is not None
        events.append(await closed_event(conn, survey))
        await _audit(conn, None, "survey.closed", survey, {"by": "its closing date"})
    await write_events(conn, SCHEMA, events)
    return opened + closed

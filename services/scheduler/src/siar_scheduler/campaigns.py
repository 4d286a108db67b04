"""Campaigns: a name, hashtags, dates and a goal. A post in a campaign carries its hashtags,
added per platform (see hashtags.py); changing the hashtags changes every post of the campaign
that has not gone out, and events carry the campaign id so metrics can report per campaign."""

from __future__ import annotations

import uuid
from uuid import UUID

import asyncpg
from siar_runtime.outbox import write_events
from siar_runtime.problems import TYPE_BASE, Problem

from . import planning_store as plans
from . import store
from .hashtags import is_hashtag
from .identity import Actor
from .posts import SCHEMA, Campaign, resolve_targets, target_texts, updated_event
from .schemas import CampaignCreate, CampaignOut, CampaignUpdate


def _out(row) -> CampaignOut:
    return CampaignOut(
        campaign_id=row["campaign_id"], name=row["name"], hashtags=list(row["hashtags"]),
        starts_on=row["starts_on"], ends_on=row["ends_on"], goal=row["goal"], created_by=row["created_by"],
        created_at=row["created_at"], updated_at=row["updated_at"], posts=row["posts"],
    )


def clean_hashtags(tags: list[str]) -> list[str]:
    out: list[str] = []
    bad = []
    for raw in tags:
        tag = raw.strip().lstrip("#\uff03")
        if not is_hashtag(tag):
            bad.append(raw)
        elif tag.casefold() not in {t.casefold() for t in out}:
            out.append(tag)
    if bad:
        raise Problem(422, "Invalid hashtag", f"not a hashtag: {', '.join(repr(b) for b in bad)} "
                      "(letters, digits and _; not digits only)", type_=TYPE_BASE + "validation", hashtags=bad)
    return out


def _dates(starts_on, ends_on) -> None:
    if starts_on and ends_on and ends_on < starts_on:
        raise Problem(422, "Invalid dates", "the campaign ends before it starts", type_=TYPE_BASE + "validation")


def _name_taken(name: str) -> Problem:
    return Problem(409, "Name taken", f"there is a campaign named {name!r} already", type_=TYPE_BASE + "conflict")


async def create(pool: asyncpg.Pool, req: CampaignCreate, *, actor: Actor) -> CampaignOut:
    hashtags = clean_hashtags(req.hashtags)
    _dates(req.starts_on, req.ends_on)
    campaign_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        try:
            await plans.insert_campaign(conn, campaign_id=campaign_id, name=req.name.strip(), hashtags=hashtags,
                                        starts_on=req.starts_on, ends_on=req.ends_on, goal=req.goal, created_by=actor.id)
        except asyncpg.UniqueViolationError as exc:
            raise _name_taken(req.name) from exc
        await plans.audit(conn, actor=actor.id, role=actor.role, action="campaign.created", entity="campaign",
                          entity_id=campaign_id, details=req.model_dump(mode="json") | {"hashtags": hashtags})
        row = await plans.get_campaign(conn, campaign_id)
    return _out(row)


async def get(conn: asyncpg.Connection, campaign_id: UUID) -> CampaignOut:
    row = await plans.get_campaign(conn, campaign_id)
    if row is None:
        raise Problem(404, "Not found", f"no campaign {campaign_id}", type_=TYPE_BASE + "not-found")
    return _out(row)


async def list_all(conn: asyncpg.Connection) -> list[CampaignOut]:
    return [_out(r) for r in await plans.list_campaigns(conn)]


async def update(pool: asyncpg.Pool, campaign_id: UUID, req: CampaignUpdate, *, actor: Actor) -> CampaignOut:
    async with pool.acquire() as conn, conn.transaction():
        row = await plans.get_campaign(conn, campaign_id, for_update=True)
        if row is None:
            raise Problem(404, "Not found", f"no campaign {campaign_id}", type_=TYPE_BASE + "not-found")
        fields = req.model_fields_set
        name = req.name.strip() if "name" in fields and req.name else row["name"]
        hashtags = clean_hashtags(req.hashtags) if "hashtags" in fields and req.hashtags is not None else list(row["hashtags"])
        starts_on = req.starts_on if "starts_on" in fields else row["starts_on"]
        ends_on = req.ends_on if "ends_on" in fields else row["ends_on"]
        goal = req.goal if "goal" in fields else row["goal"]
        _dates(starts_on, ends_on)
        try:
            await plans.update_campaign(conn, campaign_id, name=name, hashtags=hashtags, starts_on=starts_on,
                                        ends_on=ends_on, goal=goal)
        except asyncpg.UniqueViolationError as exc:
            raise _name_taken(name) from exc
        changed = {
            k: {"from": str(old) if old is not None else None, "to": str(new) if new is not None else None}
            for k, old, new in (("name", row["name"], name), ("starts_on", row["starts_on"], starts_on),
                                ("ends_on", row["ends_on"], ends_on), ("goal", row["goal"], goal))
            if old != new
        }
        if hashtags != list(row["hashtags"]):
            changed["hashtags"] = {"from": list(row["hashtags"]), "to": hashtags}
            changed["posts_updated"] = await _retag(conn, Campaign(campaign_id, name, tuple(hashtags), starts_on, ends_on))
        await plans.audit(conn, actor=actor.id, role=actor.role, action="campaign.updated", entity="campaign",
                          entity_id=campaign_id, details=changed)
        row = await plans.get_campaign(conn, campaign_id)
    return _out(row)


async def _retag(conn: asyncpg.Connection, camp: Campaign) -> int:
    """Give every post of the campaign that has not gone out the campaign's new hashtags."""
    events = []
    for post_id in await plans.pending_campaign_posts(conn, camp.campaign_id):
        post = await store.get_post(conn, post_id, for_update=True)
        if post is None:
            continue
        live = [t for t in post.targets if t.status == "scheduled"]
        targets = await resolve_targets(conn, [t.account_id for t in live], allow_inactive=True)
        texts = target_texts(targets, post.text, post.media, post.title, camp)
        await store.set_target_texts(conn, post_id, texts)
        updated = await store.get_post(conn, post_id)
        assert updated is not None
        events.append(updated_event(updated, camp))
    await write_events(conn, SCHEMA, events)
    return len(events)

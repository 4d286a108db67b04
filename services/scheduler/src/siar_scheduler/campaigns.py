"""Campaigns: a name, hashtags, dates and a goal. A post in a campaign carries its hashtags,
added per platform (see hashtags.py); changing the hashtags changes every post of the campaign
that has not gone out, and events carry the campaign id so metrics can report per campaign.

New hashtags change what goes out, so they are treated as an edit of each post they reach: the
new texts are checked against each platform's rules and the content checks (a post that would be
refused makes the whole campaign change refused, 422, naming the posts; nothing is changed), and
under ``SIAR_REVIEW_REQUIRED`` an approved post (or series, or event promotion) whose text they
change goes back to review, with an audit entry saying what changed."""

from __future__ import annotations

import uuid
from uuid import UUID

import asyncpg
from siar_runtime.outbox import write_events
from siar_runtime.problems import TYPE_BASE, Problem

from . import checks, series, store
from . import planning_store as plans
from .hashtags import is_hashtag
from .identity import Actor
from .policy import Policy
from .posts import (
    SCHEMA,
    Campaign,
    findings,
    hashtags_left_out,
    media_findings,
    resolve_targets,
    review_after_edit,
    target_texts,
    updated_event,
    violations,
)
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


async def update(pool: asyncpg.Pool, campaign_id: UUID, req: CampaignUpdate, *, actor: Actor,
                 policy: Policy) -> CampaignOut:
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
            changed |= await _retag(conn, Campaign(campaign_id, name, tuple(hashtags), starts_on, ends_on),
                                    list(row["hashtags"]), actor=actor, policy=policy)
        await plans.audit(conn, actor=actor.id, role=actor.role, action="campaign.updated", entity="campaign",
                          entity_id=campaign_id, details=changed)
        row = await plans.get_campaign(conn, campaign_id)
    return _out(row)


def _refused(refused: list[dict]) -> Problem:
    def line(r: dict) -> str:
        why = [f"{v['platform']}:{v['handle']}: {v['message']}" for v in r["violations"]]
        why += [f["message"] for f in r["findings"]]
        return f"post {r['post_id']} ({r['scheduled_at']}): " + "; ".join(why)

    return Problem(
        422, "Campaign change refused",
        f"with the new hashtags {len(refused)} post(s) of the campaign would be refused; nothing was changed. "
        "Edit or remove those posts, or choose other hashtags: " + " | ".join(line(r) for r in refused),
        type_=TYPE_BASE + "content-rules", posts=refused,
    )


async def _retag(conn: asyncpg.Connection, camp: Campaign, old_tags: list[str], *, actor: Actor,
                 policy: Policy) -> dict:
    """Give every post of the campaign that has not gone out the campaign's new hashtags, as an
    edit: checked first (all or nothing), then each post whose text changes is re-opened for
    review when it was approved and review is required. An occurrence that follows its series
    (not edited alone) is reviewed with its series: the series goes back to review and is
    re-planned, so the rolling horizon never restores an approval the new text did not get."""
    plans_: list[tuple] = []
    refused: list[dict] = []
    for post_id in await plans.pending_campaign_posts(conn, camp.campaign_id):
        post = await store.get_post(conn, post_id, for_update=True)
        if post is None:
            continue
        live = [t for t in post.targets if t.status == "scheduled"]
        targets = await resolve_targets(conn, [t.account_id for t in live], allow_inactive=True)
        texts = target_texts(targets, post.text, post.media, post.title, camp)
        bad = violations(targets, post.text, post.media, post.title, texts)
        found = findings(policy, text=post.text, media=post.media, title=post.title, camp=camp,
                         scheduled_at=post.scheduled_at, timezone=post.timezone)
        found += media_findings(post)  # the media did not change: what was found of their links stays
        found += hashtags_left_out(targets, post.text, texts, camp)
        blocked = checks.blocking(found) if post.review.state != "draft" else []
        if bad or blocked:
            refused.append({"post_id": str(post_id), "scheduled_at": post.scheduled_at.isoformat(),
                            "violations": bad, "findings": blocked})
            continue
        before = {t.account_id: t.text for t in live}
        changed = {a: {"from": before.get(a), "to": t} for a, t in texts.items() if before.get(a) != t}
        plans_.append((post, texts, found, changed))
    if refused:
        raise _refused(refused)

    tags = {"from": old_tags, "to": list(camp.hashtags)}
    events = []
    reopened: list[str] = []
    series_changed: set[UUID] = set()
    for post, texts, found, changed in plans_:
        if post.series_id and not post.detached:
            if changed:
                series_changed.add(post.series_id)  # follows its series: re-planned below
            else:
                events.append(updated_event(post, camp))  # same text; the event carries the new tags
            continue
        review = review_after_edit(post.review.state, actor, policy) if changed else {}
        await store.update_post(
            conn, post.post_id, text=post.text, media=post.media, title=post.title, scheduled_at=post.scheduled_at,
            timezone=post.timezone, campaign_id=post.campaign_id, target_texts=texts, review=review, findings=found,
        )
        updated = await store.get_post(conn, post.post_id)
        assert updated is not None
        events.append(updated_event(updated, camp))
        if changed:
            details: dict = {"campaign_id": str(camp.campaign_id), "campaign_hashtags": tags, "target_texts": changed}
            if review.get("review_state"):
                details["review_state"] = {"from": post.review.state, "to": review["review_state"]}
                reopened.append(str(post.post_id))
            await plans.audit(conn, actor=actor.id, role=actor.role, action="post.updated", entity="post",
                              entity_id=post.post_id, details=details)
    await write_events(conn, SCHEMA, events)
    posts_updated = len(events)
    for series_id in sorted(series_changed, key=str):
        row = await plans.get_series(conn, series_id, for_update=True)
        if row is None or row["status"] != "active":
            continue
        details = {"campaign_id": str(camp.campaign_id), "campaign_hashtags": tags}
        values: dict = {"edited_by": actor.id}
        if row["review_state"] == "approved" and policy.review_required:
            values |= {"review_state": "in_review", "submitted_by": actor.id, "reviewed_by": None, "reviewed_at": None}
            details["review_state"] = {"from": "approved", "to": "in_review"}
            reopened.append(str(series_id))
        elif row["review_state"] == "in_review":
            values["submitted_by"] = actor.id
        await plans.update_series(conn, series_id, **values)
        row = await plans.get_series(conn, series_id)
        counts = await series.replan(conn, row, actor=actor, policy=policy)
        posts_updated += counts["updated"]
        kind = "series" if row["kind"] == "recurrence" else "event"
        await plans.audit(conn, actor=actor.id, role=actor.role, action=f"{kind}.updated", entity=kind,
                          entity_id=series_id, details=details | {"occurrences": counts})
    out: dict = {"posts_updated": posts_updated}
    if reopened:
        out["back_to_review"] = reopened
    return out

"""survey.opened, as the feedback service emits it, on the real broker and database: each
announcement entry that names an account becomes a post, due as the survey opens; a repeat makes
nothing twice; an entry that cannot be posted is shown in the dead letters and the audit log,
after the others were scheduled, and a replay once it is fixed makes only what is missing."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import aio_pika
from siar_contracts import (
    EVENTS_EXCHANGE,
    AccountRegistered,
    CloudEvent,
    LocalizedText,
    SurveyAnnouncement,
    SurveyLink,
    SurveyOpened,
    spec_for_model,
)
from siar_runtime.auth import actor_id
from siar_runtime.db import Database
from siar_runtime.deadletters import peek, replay
from siar_scheduler import accounts as read_model
from siar_scheduler.announcements import on_survey_opened
from siar_scheduler.policy import Policy

from .conftest import TOKENS, auth

BASE = "http://127.0.0.1:8004/s/survei-pemustaka"


def opened(*announce: SurveyAnnouncement, opens_at: datetime | None = None,
           closes_at: datetime | None = None, created_by: str | None = None,
           edited_by: str | None = None) -> tuple[CloudEvent, SurveyOpened]:
    survey_id = str(uuid.uuid4())
    data = SurveyOpened(
        survey_id=survey_id, slug="survei-pemustaka", title=LocalizedText(id="Survei Pemustaka", en="Patron survey"),
        opens_at=opens_at or datetime.now(UTC) - timedelta(seconds=1), closes_at=closes_at,
        links=[SurveyLink(channel="direct", url=BASE), SurveyLink(channel="poster", url=f"{BASE}?ch=poster")],
        announce=list(announce), created_by=created_by, edited_by=edited_by,
    )
    event = spec_for_model(SurveyOpened).envelope(data, source="/siar/feedback", correlation_id=str(uuid.uuid4()),
                                                  subject=f"survey/{survey_id}")
    return event, data


def entry(platform: str, account_id: str | None, channel: str | None = None) -> SurveyAnnouncement:
    channel = channel or platform
    url = f"{BASE}?ch={channel}"
    return SurveyAnnouncement(platform=platform, account_id=account_id, channel=channel, url=url,
                              text=f"Survei Pemustaka\n\nBantu kami menjadi lebih baik, isi survei ini: {url}")


async def publish(amqp_url: str, event: CloudEvent) -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        await exchange.publish(
            aio_pika.Message(event.to_json(), content_type="application/cloudevents+json", message_id=event.id),
            routing_key="survey.opened",
        )


async def wait_until(predicate, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await predicate()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise TimeoutError("not in time")


async def posts_of(sql, survey_id: str) -> list:
    """The posts the announcements of one survey made, with their one target each."""
    return await sql.fetch(
        """
        SELECT p.post_id, p.text, p.scheduled_at, p.review_state, p.created_by, p.idempotency_key,
               t.account_id, t.platform, t.due_at
        FROM posts p JOIN targets t USING (post_id)
        WHERE p.post_id::text IN (SELECT entity_id FROM audit_log
                                  WHERE action = 'post.created' AND details->>'survey_id' = $1)
        ORDER BY t.platform
        """,
        survey_id,
    )


async def dead_letter(amqp_url: str, event_id: str) -> dict:
    """The headers of the scheduler's dead letter for ``event_id``, once it is there (left in place)."""
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        async def found():
            return next((d.headers for d in await peek(connection, "scheduler") if d.message_id == event_id), None)

        return await wait_until(found)


async def test_an_announcement_with_an_account_becomes_one_post_due_now(planner, accts, sql, tap, amqp_url):
    mastodon = entry("mastodon", accts["mastodon"])
    poster = entry("poster", None)  # a channel with no account: a suggestion for people only
    event, data = opened(mastodon, poster)
    before = datetime.now(UTC)
    await publish(amqp_url, event)
    made = await wait_until(lambda: posts_of(sql, data.survey_id))
    assert len(made) == 1
    post = made[0]
    assert (post["account_id"], post["platform"]) == (accts["mastodon"], "mastodon")
    assert post["text"] == mastodon.text and f"{BASE}?ch=mastodon" in post["text"]
    assert before - timedelta(seconds=1) <= post["scheduled_at"] <= datetime.now(UTC)
    assert post["review_state"] == "approved" and post["created_by"] == "siar"
    # Announced like any post, and it goes out at once (post.due).
    await tap.wait(lambda: tap.of(str(post["post_id"]), "post.scheduled"))
    due = await tap.wait(lambda: tap.of(str(post["post_id"]), "post.due"))
    assert due[0]["data"]["account_id"] == accts["mastodon"]
    # The audit log says where it came from, and who made it: the scheduler itself.
    entry_ = (await planner.get("/v1/audit", params={"entity": "post", "entity_id": str(post["post_id"])},
                                headers=auth("admin"))).json()["entries"][0]
    assert entry_["action"] == "post.created" and entry_["actor"] == "siar" and entry_["role"] == "system"
    assert entry_["details"]["made_by"] == "survey"
    assert entry_["details"]["survey_id"] == data.survey_id and entry_["details"]["channel"] == "mastodon"

    # The same event again (a redelivery, a replay) makes nothing more; a later one is handled.
    await publish(amqp_url, event)
    marker, marked = opened(entry("telegram", accts["telegram"]))
    await publish(amqp_url, marker)
    await wait_until(lambda: posts_of(sql, marked.survey_id))
    await asyncio.sleep(0.3)
    assert len(await posts_of(sql, data.survey_id)) == 1


async def test_a_repeat_the_inbox_missed_makes_no_post_twice(clean_db, accts):
    # Each post has an idempotency key of the event and the account: even with the inbox row gone
    # (pruned, or a crash between the posts and the inbox), a repeat finds the posts it made.
    db = await Database.open(clean_db, "scheduler")
    try:
        event, data = opened(entry("mastodon", accts["mastodon"]), entry("x", accts["x"]))
        await on_survey_opened(event, data, db.pool, Policy())
        async with db.pool.acquire() as conn:
            await conn.execute("DELETE FROM inbox")
        await on_survey_opened(event, data, db.pool, Policy())
        async with db.pool.acquire() as conn:
            made = await posts_of(conn, data.survey_id)
            keys = await conn.fetchval("SELECT count(DISTINCT idempotency_key) FROM posts")
    finally:
        await db.close()
    assert sorted(p["platform"] for p in made) == ["mastodon", "x"]
    assert keys == 2


async def test_an_announcement_for_an_unknown_account_is_a_dead_letter_after_the_others(
    planner, accts, sql, amqp_url
):
    later = str(uuid.uuid4())  # not connected yet
    event, data = opened(entry("telegram", accts["telegram"]), entry("mastodon", later, channel="mastodon"),
                         entry("poster", None))
    await publish(amqp_url, event)
    seen = await dead_letter(amqp_url, event.id)
    assert seen["x-siar-reason"] == "announcement_refused"
    assert later in seen["x-siar-detail"] and "Unknown account" in seen["x-siar-detail"]
    assert "1 of 2" in seen["x-siar-detail"] and "Replay" in seen["x-siar-detail"]
    # The entry that could be posted was not held back.
    made = await posts_of(sql, data.survey_id)
    assert [(p["platform"], p["account_id"]) for p in made] == [("telegram", accts["telegram"])]
    # The team sees the refusal in the audit log, with the reason.
    entries = (await planner.get("/v1/audit", params={"entity": "survey", "entity_id": data.survey_id},
                                 headers=auth("admin"))).json()["entries"]
    assert [e["action"] for e in entries] == ["survey.announcement_refused"]
    assert entries[0]["details"]["account_id"] == later and "Unknown account" in entries[0]["details"]["reason"]

    # The account is connected; the dead letter replayed makes only the missing post.
    await read_model.upsert(sql, AccountRegistered(account_id=later, platform="mastodon", handle="perpus_baru",
                                                   status="active", limits={"max_characters": 500}))
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        assert (await replay(connection, "scheduler", message_id=event.id)).moved == 1
    made = await wait_until(lambda: _two(sql, data.survey_id))
    assert sorted((p["platform"], p["account_id"]) for p in made) == [("mastodon", later),
                                                                       ("telegram", accts["telegram"])]
    assert await sql.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event.id) == 1


async def _two(sql, survey_id: str):
    made = await posts_of(sql, survey_id)
    return made if len(made) == 2 else None


async def test_a_text_the_platform_refuses_is_refused_with_its_reason(clean_db, accts):
    db = await Database.open(clean_db, "scheduler")
    try:
        long = entry("mastodon", accts["mastodon"]).model_copy(update={"text": "Survei " * 100})
        event, data = opened(long, entry("x", accts["x"]))
        try:
            await on_survey_opened(event, data, db.pool, Policy())
        except Exception as exc:
            refused = exc
        else:
            raise AssertionError("not refused")
        async with db.pool.acquire() as conn:
            made = await posts_of(conn, data.survey_id)
            seen = await conn.fetchval("SELECT count(*) FROM inbox")
    finally:
        await db.close()
    assert refused.reason == "announcement_refused"  # type: ignore[attr-defined]
    assert "perpustakaan" in refused.detail and "500" in refused.detail  # type: ignore[attr-defined]
    assert [p["platform"] for p in made] == ["x"]
    assert seen == 0  # a replay after the text is fixed is not taken for a repeat


async def test_under_review_an_announcement_waits_for_a_reviewer(reviewed, accts, sql, amqp_url):
    event, data = opened(entry("telegram", accts["telegram"]))
    await publish(amqp_url, event)
    made = await wait_until(lambda: posts_of(sql, data.survey_id))
    post = made[0]
    # Like any post under review: a reviewer approves it (anyone: the scheduler wrote it), and it
    # is due after the review window, so it does not fail not_approved the moment it is made.
    assert post["review_state"] == "in_review"
    assert post["due_at"] > datetime.now(UTC) + timedelta(minutes=55)
    approved = await reviewed.post(f"/v1/posts/{post['post_id']}/approve", json={}, headers=auth("reviewer"))
    assert approved.status_code == 200, approved.text
    assert approved.json()["review"]["state"] == "approved"


async def test_whoever_created_the_survey_cannot_approve_its_announcement(reviewed, accts, sql, amqp_url):
    """The survey's creator wrote the announcement text: they are the post's author (the feedback
    service names them as every service does), so another reviewer must approve it."""
    author = actor_id(TOKENS["reviewer"])
    event, data = opened(entry("telegram", accts["telegram"]), created_by=author)
    await publish(amqp_url, event)
    [post] = await wait_until(lambda: posts_of(sql, data.survey_id))
    assert (post["review_state"], post["created_by"]) == ("in_review", author)
    own = await reviewed.post(f"/v1/posts/{post['post_id']}/approve", json={}, headers=auth("reviewer"))
    assert own.status_code == 403, own.text
    assert own.json()["type"].endswith("own-post")
    other = await reviewed.post(f"/v1/posts/{post['post_id']}/approve", json={}, headers=auth("reviewer2"))
    assert other.status_code == 200, other.text
    assert other.json()["review"]["state"] == "approved"
    [created] = [e for e in (await reviewed.get("/v1/audit", params={"entity": "post", "entity_id": str(post["post_id"])}))
                 .json()["entries"] if e["action"] == "post.created"]
    assert (created["actor"], created["details"]["written_by"]) == ("siar", author)


async def test_a_survey_closed_before_its_event_arrived_is_not_announced(clean_db, accts):
    db = await Database.open(clean_db, "scheduler")
    try:
        event, data = opened(entry("telegram", accts["telegram"]),
                             opens_at=datetime.now(UTC) - timedelta(days=3),
                             closes_at=datetime.now(UTC) - timedelta(days=1))
        await on_survey_opened(event, data, db.pool, Policy())
        async with db.pool.acquire() as conn:
            made = await posts_of(conn, data.survey_id)
    finally:
        await db.close()
    assert made == []


async def only_another_reviewer_approves(reviewed, post: dict) -> None:
    """The token "reviewer" wrote or changed it: refused (403); "reviewer2" approves it."""
    own = await reviewed.post(f"/v1/posts/{post['post_id']}/approve", json={}, headers=auth("reviewer"))
    assert own.status_code == 403, own.text
    other = await reviewed.post(f"/v1/posts/{post['post_id']}/approve", json={}, headers=auth("reviewer2"))
    assert other.status_code == 200, other.text


async def test_an_announcement_of_an_older_survey_names_its_author_by_the_tokens_start(reviewed, accts, sql, amqp_url):
    """Surveys created before the services shared actor ids name their creator by the token's first
    characters only: any token beginning so counts as the author (another reviewer approves)."""
    author = TOKENS["reviewer"][:4] + "\u2026"
    event, data = opened(entry("telegram", accts["telegram"]), created_by=author)
    await publish(amqp_url, event)
    [post] = await wait_until(lambda: posts_of(sql, data.survey_id))
    await only_another_reviewer_approves(reviewed, post)


async def test_whoever_changed_the_announcement_cannot_approve_it_either(reviewed, accts, sql, amqp_url):
    """Someone who changed the announcement's text or accounts after its creator wrote it is the
    post's editor: they cannot approve it either (the four eyes must see someone else's words)."""
    event, data = opened(entry("telegram", accts["telegram"]), created_by=actor_id(TOKENS["editor"]),
                         edited_by=actor_id(TOKENS["reviewer"]))  # fmt: skip
    await publish(amqp_url, event)
    [post] = await wait_until(lambda: posts_of(sql, data.survey_id))
    await only_another_reviewer_approves(reviewed, post)

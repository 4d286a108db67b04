"""A post's media links tried once more shortly before its time (siar_scheduler.recheck): a link
gone since the post was written is said on the post, in the audit log and as post.at_risk while
there is still time, against a real file server and the real database."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from siar_devstack.serving import served
from siar_runtime.db import Database
from siar_scheduler import recheck
from siar_scheduler.policy import Policy
from siar_scheduler.settings import SchedulerSettings

from .conftest import running_scheduler
from .test_media_links import LOCAL, files
from .test_review import create

BROKEN: set[str] = set()


async def library_files(scope, receive, send):
    """The file server of test_media_links, where a path can break and mend between two looks."""
    if scope["path"] in BROKEN:
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["path"] == "/photo.jpg":  # another picture, served as the poster is
        scope = {**scope, "path": "/poster.jpg"}
    await files(scope, receive, send)


def soon(minutes: float = 30) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


@contextlib.asynccontextmanager
async def library(clean_db: str, amqp_url: str, **settings):
    """A scheduler with these settings, the library's file server (nothing broken yet), a pool on
    the scheduler's database, the policy a look uses and a post's media on that server."""
    BROKEN.clear()
    policy = replace(Policy.from_settings(SchedulerSettings(**settings)), egress=LOCAL)
    db = await Database.open(clean_db, "scheduler", min_size=1, max_size=2)
    try:
        async with served(library_files) as base, running_scheduler(clean_db, amqp_url, **settings) as planner:
            yield policy, db, base, planner, [{"url": base + "/poster.jpg", "kind": "image", "alt_text": "Poster pameran"}]
    finally:
        BROKEN.clear()
        await db.close()


async def audit(db: Database, post_id: str) -> list[dict]:
    async with db.pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(
            "SELECT actor, action, details FROM audit_log WHERE entity_id = $1 AND action = 'post.media_rechecked'"
            " ORDER BY id", post_id)]


async def test_a_link_gone_since_the_post_was_written_is_said_while_there_is_time(clean_db, amqp_url, accts, tap):
    async with library(clean_db, amqp_url, check_media_links="warn", media_check_seconds=2) as (policy, db, base, planner, media):
        post = await create(planner, accts, media=media, scheduled_at=soon(30))
        later = await create(planner, accts, media=media, scheduled_at=soon(120))  # not yet in the window
        bare = await create(planner, accts, scheduled_at=soon(20))  # no media: nothing to try
        assert post["findings"] == []

        BROKEN.add("/poster.jpg")  # the file was moved after the post was written
        async with db.pool.acquire() as conn, conn.transaction():
            claimed = await recheck.claim(conn, 60)
        assert [str(r["post_id"]) for r in claimed] == [post["post_id"]]
        assert await recheck.recheck(db.pool, policy, claimed) == [post["post_id"]]

        shown = (await planner.get(f"/v1/posts/{post['post_id']}")).json()
        [finding] = shown["findings"]
        assert finding["check"] == "media_links" and finding["rule"] == "http_error"
        assert "answers 404 Not Found" in finding["message"] and shown["status"] == "scheduled"
        [event] = await tap.wait(lambda: tap.of(post["post_id"], "post.at_risk"))
        assert event["subject"] == f"post/{post['post_id']}" and event["correlationid"] == post["correlation_id"]
        assert event["data"]["findings"][0]["rule"] == "http_error" and "404" in event["data"]["reason"]
        assert [t["account_id"] for t in event["data"]["targets"]] == [accts["telegram"]]
        assert event["data"]["review_state"] == "approved" and finding["severity"] == "warn"
        [entry] = await audit(db, post["post_id"])
        assert entry["actor"] == "siar" and "404" in entry["details"]["warnings"][0]

        # Tried once in the window: nothing more is claimed, however often the loop looks.
        async with db.pool.acquire() as conn, conn.transaction():
            assert await recheck.claim(conn, 60) == []
            assert 3000 < await recheck.seconds_until_next(conn, 60) <= 3600  # `later` enters in an hour

        # Mended and the post moved: tried again, the finding goes, nothing is announced.
        BROKEN.clear()
        moved = await planner.patch(f"/v1/posts/{post['post_id']}", json={"scheduled_at": soon(40)})
        assert moved.status_code == 200, moved.text
        async with db.pool.acquire() as conn, conn.transaction():
            claimed = await recheck.claim(conn, 60)
        assert await recheck.recheck(db.pool, policy, claimed) == []
        assert (await planner.get(f"/v1/posts/{post['post_id']}")).json()["findings"] == []
        await asyncio.sleep(0.5)
        assert len(tap.of(post["post_id"], "post.at_risk")) == 1 and len(await audit(db, post["post_id"])) == 2
        assert later["post_id"] and bare["post_id"]


async def test_a_post_whose_text_changes_while_its_links_are_asked_keeps_what_the_look_found(
        clean_db, amqp_url, accts, tap):
    """Its text edited (or approved) meanwhile, the post still links the same media at the same
    time: what the look found stands. Its media changed meanwhile, the look is left to the check
    that change ran, and the post is tried again in the window."""
    async with library(clean_db, amqp_url, check_media_links="warn") as (policy, db, base, planner, media):
        post = await create(planner, accts, media=media, scheduled_at=soon(30))
        async with db.pool.acquire() as conn, conn.transaction():
            claimed = await recheck.claim(conn, 60)
        BROKEN.add("/poster.jpg")
        edited = await planner.patch(f"/v1/posts/{post['post_id']}", json={"text": "Pameran buku anak, lagi!"})
        assert edited.status_code == 200 and edited.json()["findings"] == []  # a text edit asks no link
        assert await recheck.recheck(db.pool, policy, claimed) == [post["post_id"]]
        [finding] = (await planner.get(f"/v1/posts/{post['post_id']}")).json()["findings"]
        assert finding["rule"] == "http_error"
        await tap.wait(lambda: tap.of(post["post_id"], "post.at_risk"))
        async with db.pool.acquire() as conn, conn.transaction():
            assert await recheck.seconds_until_next(conn, 60) is None  # tried

        other = await create(planner, accts, media=media, scheduled_at=soon(35))
        BROKEN.clear()
        async with db.pool.acquire() as conn, conn.transaction():
            [claimed] = await recheck.claim(conn, 60)
        BROKEN.add("/poster.jpg")
        moved = await planner.patch(f"/v1/posts/{other['post_id']}", json={"media": [
            {"url": base + "/photo.jpg", "kind": "image", "alt_text": "Foto pameran"}]})
        assert moved.status_code == 200, moved.text
        async with db.pool.acquire() as conn, conn.transaction():
            [again] = await recheck.claim(conn, 60)  # its new media are tried again (another replica, say)
        assert again["post_id"] == claimed["post_id"] and again["media"][0]["url"].endswith("/photo.jpg")
        assert await recheck.recheck(db.pool, policy, [claimed]) == []  # the old look: the change's check stands
        assert (await planner.get(f"/v1/posts/{other['post_id']}")).json()["findings"] == []
        async with db.pool.acquire() as conn, conn.transaction():
            assert await recheck.seconds_until_next(conn, 60) > 60  # not marked tried: the new look's to do
        assert await recheck.recheck(db.pool, policy, [again]) == []
        async with db.pool.acquire() as conn, conn.transaction():
            assert await recheck.seconds_until_next(conn, 60) is None
        await asyncio.sleep(0.5)
        assert tap.of(other["post_id"], "post.at_risk") == []


async def test_a_look_lost_with_its_scheduler_is_taken_again_when_its_lease_runs_out(clean_db, amqp_url, accts, tap):
    """The claim leases the post; a scheduler stopped before the look (nothing marks it tried)
    leaves the lease to run out, and the post is claimed and tried again while it is ahead."""
    async with library(clean_db, amqp_url, check_media_links="warn", media_check_seconds=2) as (policy, db, base, planner, media):
        assert recheck.lease_seconds(policy) == 2 * 5 * 2 + 30  # 20 posts, four at a time, twice over, and a margin
        post = await create(planner, accts, media=media, scheduled_at=soon(30))
        async with db.pool.acquire() as conn, conn.transaction():
            [lost] = await recheck.claim(conn, 60, lease_seconds=1)  # and then the scheduler stops
        assert str(lost["post_id"]) == post["post_id"]
        async with db.pool.acquire() as conn, conn.transaction():
            assert await recheck.claim(conn, 60) == []  # leased: not claimed twice
            assert 0 < await recheck.seconds_until_next(conn, 60) <= 1  # the loop wakes when it runs out
        await asyncio.sleep(1.1)

        BROKEN.add("/poster.jpg")
        async with db.pool.acquire() as conn, conn.transaction():
            assert await recheck.seconds_until_next(conn, 60) <= 0
            claimed = await recheck.claim(conn, 60, lease_seconds=1)
        assert [str(r["post_id"]) for r in claimed] == [post["post_id"]]
        assert await recheck.recheck(db.pool, policy, claimed) == [post["post_id"]]
        [event] = await tap.wait(lambda: tap.of(post["post_id"], "post.at_risk"))
        assert "404" in event["data"]["reason"]

        # Tried: no lease brings it back, and the first look, if it ever ends, announces nothing more.
        await asyncio.sleep(1.1)
        async with db.pool.acquire() as conn, conn.transaction():
            assert await recheck.claim(conn, 60) == []
            assert await recheck.seconds_until_next(conn, 60) is None
        assert await recheck.recheck(db.pool, policy, [lost]) == []
        await asyncio.sleep(0.5)
        assert len(tap.of(post["post_id"], "post.at_risk")) == 1 and len(await audit(db, post["post_id"])) == 1


async def test_the_service_tries_again_on_its_own_and_announces_on_the_broker(clean_db, amqp_url, accts, tap):
    BROKEN.clear()
    BROKEN.add("/gone.jpg")
    async with served(library_files) as base, running_scheduler(
            clean_db, amqp_url, check_media_links="warn", media_check_seconds=2, media_recheck_minutes=60,
            allowed_private_addresses="127.0.0.0/8") as planner:
        post = await create(planner, accts, scheduled_at=soon(10),
                            media=[{"url": base + "/gone.jpg", "kind": "image", "alt_text": "Poster"}])
        [event] = await tap.wait(lambda: tap.of(post["post_id"], "post.at_risk"), timeout=20)
        assert "answers 404" in event["data"]["reason"]
        for _ in range(50):  # the counter follows the commit that wrote the event
            if "siar_scheduler_posts_at_risk_total 1.0" in (await planner.get("/metrics")).text:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("siar_scheduler_posts_at_risk_total did not count the post")
    BROKEN.clear()
    await asyncio.sleep(0)


async def test_a_cancelled_post_or_one_in_block_mode_neither_spins_the_loop_nor_blocks_its_edits(
        clean_db, amqp_url, accts):
    """A post with nothing left to send is neither claimed nor waited for (the loop would wake
    every half second for it); with SIAR_CHECK_MEDIA_LINKS=block the second look keeps a warning,
    so the team can still move the post while the link is mended."""
    async with library(clean_db, amqp_url, check_media_links="block") as (policy, db, base, planner, media):
        gone = await create(planner, accts, media=media, scheduled_at=soon(5))
        assert (await planner.post(f"/v1/posts/{gone['post_id']}/cancel", json={"reason": "batal"})).status_code == 200
        async with db.pool.acquire() as conn, conn.transaction():
            assert await recheck.seconds_until_next(conn, 60) is None
            assert await recheck.claim(conn, 60) == []

        post = await create(planner, accts, media=media, scheduled_at=soon(30))
        BROKEN.add("/poster.jpg")
        async with db.pool.acquire() as conn, conn.transaction():
            claimed = await recheck.claim(conn, 60)
        assert await recheck.recheck(db.pool, policy, claimed) == [post["post_id"]]
        [finding] = (await planner.get(f"/v1/posts/{post['post_id']}")).json()["findings"]
        assert finding["severity"] == "warn"
        moved = await planner.patch(f"/v1/posts/{post['post_id']}", json={"scheduled_at": soon(50)})
        assert moved.status_code == 200, moved.text

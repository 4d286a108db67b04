"""Metrics ingest: how many samples a second the metrics service's storage path stores, beside a
plain COPY of the same rows in the same run.

The storage path is :func:`siar_metrics.ingest.store_answers`, exactly as the service runs it for
each batch of insights.collected answers (default 500 per transaction): one answer per request,
then one statement that takes the readings answered off the list (the deduplication), appends
every raw value as a sample row to ``metrics.samples``, adds up the normalised values and rates
the post, appends the reading with its values, engagement and raw answer, and keeps the
accounts' followers and the platforms' last collection. The baseline is
``copy_records_to_table`` of the very same sample rows, batch for batch, into a table with the
same columns and no index or constraint — the fastest way PostgreSQL takes them. Answers are a
mix over the ten platforms with their real metric names (about five values each, as the
platforms give them), with the targets and posts the announcer joins. After a small warm-up
round that counts for nothing (the server's caches, the prepared statements), six rounds, each
running three phases in another of the six orders: the baseline; the path alone, followed
(untimed in the ratio) by the announcer's statement rendering that phase's events window by
window and moving its cursor, on one connection, without the broker; and the path again on
readings of its own while the announcer follows on a third connection, timed until both are
done (storing and announcing on the same cores). Each phase is 16 batches long, as the first
batches two connections store at once are slower (measured: the second's first took half as
long again), which shorter phases would weigh too much. Besides the ratio of the sums, the
path's ratio in each round (min, median, max) shows how far one round's reading strays.

The events (engagement.sampled / audience.sampled) are no longer written while storing: the
announcer renders them from the readings and publishes them (siar_metrics.announce). The ratio
the issue asks for is the path's own; the phase with the announcer alongside says what storing
keeps while the events are put together beside it.

    uv run python -m bench.metrics_ingest [answers=48000] [batch=500] [connections=2]"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from siar_contracts import InsightsCollected, spec_for_model
from siar_metrics import store
from siar_metrics.announce import TYPES
from siar_metrics.ids import uuid7
from siar_metrics.ingest import Answer, Policy, store_answers
from siar_metrics.vocabulary import table
from siar_runtime.db import Database
from siar_runtime.migrate import migrate

from .common import fresh_environment, machine

N = int(sys.argv[1]) if len(sys.argv) > 1 else 48_000
BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 500
CONCURRENCY = int(sys.argv[3]) if len(sys.argv) > 3 else 2  # as SIAR_INGEST_CONCURRENCY
ROUNDS = 6
# Each round runs the three phases in another of the six orders, so that none always comes first
# after the round's setup or always follows the same other phase (its dirty pages, its checkpoint).
ORDERS = list(itertools.permutations(("copy", "path", "busy")))

# What each platform's adapter answers for a post (shared/platforms.md item 6), and one audience.
ANSWERS = {
    "mastodon": ("post", ["favourites_count", "reblogs_count", "replies_count"]),
    "instagram": ("post", ["views", "reach", "likes", "comments", "shares", "saved", "total_interactions"]),
    "facebook": ("post", ["post_total_media_view_unique", "post_media_view", "post_reactions_by_type_total",
                          "post_clicks"]),
    "threads": ("post", ["views", "likes", "replies", "reposts", "quotes", "shares"]),
    "x": ("post", ["impression_count", "like_count", "reply_count", "retweet_count", "quote_count",
                   "bookmark_count"]),
    "youtube": ("post", ["viewCount", "likeCount", "commentCount", "favoriteCount"]),
    "tiktok": ("post", ["view_count", "like_count", "comment_count", "share_count"]),
    "bluesky": ("post", ["likeCount", "repostCount", "replyCount", "quoteCount", "bookmarkCount"]),
    "linkedin": ("post", ["impressionCount", "uniqueImpressionsCount", "clickCount", "likeCount", "commentCount",
                          "shareCount", "engagement"]),
    "telegram": ("account", ["member_count"]),
}
PLATFORMS = list(ANSWERS)


def plan(n: int, rng: random.Random) -> tuple[list[tuple], list[Answer], list[tuple], list[tuple]]:
    """n requested readings (collection rows) and the answer to each, as the consumer hands them
    over (already decoded), and the targets and posts (read models) the announcer joins."""
    rows, answers, targets, posts = [], [], [], []
    now = datetime.now(UTC)
    for i in range(n):
        platform = PLATFORMS[i % len(PLATFORMS)]
        kind, names = ANSWERS[platform]
        request_id = uuid7()
        account_id = f"acc-{platform}-{i % 7}"
        target_id = str(uuid.uuid4()) if kind == "post" else None
        published = now - timedelta(hours=rng.randint(1, 720))
        rows.append((request_id, kind, "1d" if kind == "post" else "audience", target_id,
                     str(uuid.uuid4()) if kind == "post" else None, account_id, platform,
                     str(rng.getrandbits(60)) if kind == "post" else None, published if kind == "post" else None,
                     str(uuid.uuid4()), published, now, "requested", 1))
        metrics = {name: rng.randint(0, 5000) for name in names}
        payload = InsightsCollected(
            request_id=str(request_id), kind=kind, account_id=account_id, platform=platform,
            platform_post_id=rows[-1][7], target_id=target_id, metrics=metrics, collected_at=now,
        )
        event = spec_for_model(InsightsCollected).envelope(payload, source="/siar/publisher",
                                                           correlation_id=rows[-1][9])
        answers.append(Answer(event, payload))
        if kind == "post":
            post_id = rows[-1][4]
            targets.append((target_id, post_id, account_id, platform, rows[-1][7], published, rows[-1][9]))
            posts.append((post_id, "Pameran buku anak #PalembangBaca", ["PalembangBaca"],
                          f"campaign-{i % 5}" if i % 3 else None, published))
    return rows, answers, targets, posts


TARGET_COLUMNS = ("target_id", "post_id", "account_id", "platform", "platform_post_id", "published_at",
                  "correlation_id")
POST_COLUMNS = ("post_id", "text", "hashtags", "campaign_id", "scheduled_at")


COLLECTION_COLUMNS = ("request_id", "kind", "stage", "target_id", "post_id", "account_id", "platform",
                      "platform_post_id", "published_at", "correlation_id", "planned_at", "due_at", "state", "attempts")


def sample_rows(answers: list[Answer]) -> list[tuple]:
    """The rows the storage path writes to metrics.samples for these answers."""
    rows = []
    for a in answers:
        p = a.payload
        mapping = table(p.kind, p.platform)
        request_id = uuid.UUID(p.request_id)
        for name, value in p.metrics.items():
            rows.append((request_id, p.collected_at, p.platform, p.account_id, p.target_id, mapping.get(name),
                         name, float(value)))
    return rows


async def in_parallel(pool: asyncpg.Pool, batches: list, work) -> float:
    """Each batch in its own transaction, CONCURRENCY connections at once (as the service does)."""
    queue = list(reversed(batches))

    async def worker() -> None:
        async with pool.acquire() as conn:
            while queue:
                batch = queue.pop()
                async with conn.transaction():
                    await work(conn, batch)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


async def plain_copy(pool: asyncpg.Pool, batches: list[list[tuple]]) -> float:
    async def work(conn: asyncpg.Connection, rows: list[tuple]) -> None:
        await conn.copy_records_to_table(
            "plain_samples", records=rows,
            columns=("request_id", "collected_at", "platform", "account_id", "target_id", "metric", "raw_name", "value"))

    return await in_parallel(pool, batches, work)


async def storage_path(pool: asyncpg.Pool, batches: list[list[Answer]]) -> tuple[float, int, int]:
    totals = {"samples": 0, "answers": 0}

    async def work(conn: asyncpg.Connection, answers: list[Answer]) -> None:
        outcome = await store_answers(conn, answers, Policy())
        totals["samples"] += outcome.total_samples
        totals["answers"] += sum(outcome.collected.values())

    seconds = await in_parallel(pool, batches, work)
    return seconds, totals["samples"], totals["answers"]


async def storing_while_announcing(pool: asyncpg.Pool, batches: list[list[Answer]]) -> tuple[float, int, int]:
    """The storage path as in storage_path while the announcer's statement follows the readings on
    one more connection (its windows rendered and the cursor moved, as announce_rendering), timed
    until both are done: the two together on the same cores, without the broker. Returns the
    seconds, the samples stored and the events rendered."""
    stored = asyncio.Event()

    async def follow() -> int:
        events = 0
        async with pool.acquire() as conn:
            while True:
                finished = stored.is_set()  # before looking: what was stored by then is all there is
                rendered = await render_window(conn)
                events += rendered
                if not rendered:
                    if finished:
                        return events
                    await asyncio.sleep(0.002)

    started = time.perf_counter()
    follower = asyncio.create_task(follow())
    _, samples, _ = await storage_path(pool, batches)
    stored.set()
    events = await follower
    return time.perf_counter() - started, samples, events


async def render_window(conn: asyncpg.Connection) -> int:
    """One announcer window without the broker (siar_metrics.announce.Announcer.window): the next
    BATCH events rendered from the readings and the cursor moved past them. Returns the events."""
    async with conn.transaction():
        rows = await store.unannounced(conn, await store.announce_cursor(conn), BATCH, TYPES)
        if rows:
            await store.advance_cursor(conn, rows[-1]["txid"], rows[-1]["request_id"])
    return len(rows)


async def announce_rendering(pool: asyncpg.Pool) -> tuple[float, int]:
    """The announcer's PostgreSQL part for every reading not announced yet, window after window.
    Returns the seconds and the events."""
    events = 0
    started = time.perf_counter()
    async with pool.acquire() as conn:
        while rendered := await render_window(conn):
            events += rendered
    return time.perf_counter() - started, events


async def run() -> dict:
    rng = random.Random(7)
    with fresh_environment("metrics") as env:
        migrate(env.database_url, ("metrics",), quiet=True)
        db = await Database.open(env.database_url, "metrics", min_size=CONCURRENCY, max_size=CONCURRENCY + 1)
        try:
            async with db.pool.acquire() as conn:
                await conn.execute("CREATE TABLE plain_samples (LIKE samples)")  # same columns, nothing else
            per_round = N // ROUNDS
            copy_seconds = path_seconds = busy_seconds = announce_seconds = 0.0
            copied = stored = answered = announced = busy_samples = busy_events = 0
            round_ratios = []
            # Round -1 warms both sides up (the server's caches, the prepared statements) and counts for nothing.
            for round_ in range(-1, ROUNDS):
                size = per_round if round_ >= 0 else BATCH * 2
                rows, answers, targets, posts = plan(size, rng)
                busy_rows, busy_answers, busy_targets, busy_posts = plan(size, rng)  # readings of its own
                async with db.pool.acquire() as conn:
                    await conn.copy_records_to_table("collections", records=rows + busy_rows,
                                                     columns=COLLECTION_COLUMNS)
                    await conn.copy_records_to_table("targets", records=targets + busy_targets, columns=TARGET_COLUMNS)
                    await conn.copy_records_to_table("posts", records=posts + busy_posts, columns=POST_COLUMNS)
                    await conn.execute("ANALYZE collections; ANALYZE targets; ANALYZE posts")
                answer_batches = [answers[i:i + BATCH] for i in range(0, len(answers), BATCH)]
                row_batches = [sample_rows(b) for b in answer_batches]
                if round_ < 0:
                    await plain_copy(db.pool, row_batches)
                    await storage_path(db.pool, answer_batches)
                    await announce_rendering(db.pool)
                    await storing_while_announcing(db.pool, [busy_answers[i:i + BATCH] for i in range(0, size, BATCH)])
                    async with db.pool.acquire() as conn:
                        await conn.execute("TRUNCATE plain_samples, samples")
                    continue
                rates = {}
                for phase in ORDERS[round_ % len(ORDERS)]:
                    if phase == "copy":
                        seconds = await plain_copy(db.pool, row_batches)
                        samples = sum(len(b) for b in row_batches)
                        copy_seconds += seconds
                        copied += samples
                        rates["copy"] = samples / seconds
                    elif phase == "path":
                        seconds, samples, readings = await storage_path(db.pool, answer_batches)
                        path_seconds += seconds
                        stored += samples
                        answered += readings
                        rates["path"] = samples / seconds
                        seconds, events = await announce_rendering(db.pool)  # the path's events, apart
                        announce_seconds += seconds
                        announced += events
                    else:
                        seconds, samples, events = await storing_while_announcing(
                            db.pool, [busy_answers[i:i + BATCH] for i in range(0, per_round, BATCH)])
                        busy_seconds += seconds
                        busy_samples += samples
                        busy_events += events
                round_ratios.append(rates["path"] / rates["copy"])
            async with db.pool.acquire() as conn:
                in_samples = await conn.fetchval("SELECT count(*) FROM samples")
                in_plain = await conn.fetchval("SELECT count(*) FROM plain_samples")
        finally:
            await db.close()
    total = N // ROUNDS * ROUNDS
    assert stored == copied == in_plain and in_samples == stored + busy_samples, (stored, copied, in_samples, in_plain)
    round_ratios.sort()
    assert answered == announced == busy_events == total, (answered, announced, busy_events)
    copy_rate = copied / copy_seconds
    path_rate = stored / path_seconds
    return {
        "answers": total, "samples": stored, "batch_answers": BATCH, "connections": CONCURRENCY,
        "samples_per_answer": round(stored / total, 2),
        "plain_copy_samples_per_s": round(copy_rate), "storage_path_samples_per_s": round(path_rate),
        "storage_path_answers_per_s": round(total / path_seconds),
        "ratio_to_plain_copy": round(path_rate / copy_rate, 3),
        "ratio_per_round_min_median_max": [round(round_ratios[0], 3), round(statistics.median(round_ratios), 3),
                                           round(round_ratios[-1], 3)],
        "announce_rendering_events_per_s": round(announced / announce_seconds),
        "while_announcing_samples_per_s": round(busy_samples / busy_seconds),
        "while_announcing_ratio": round(busy_samples / busy_seconds / copy_rate, 3),
        "goal": "ratio >= 0.5 and >= 50,000 samples/s",
        "goal_met": path_rate / copy_rate >= 0.5 and path_rate >= 50_000,
    }


def main() -> None:
    result = asyncio.run(run())
    print(f"machine: {machine()}")
    print(f"command: uv run python -m bench.metrics_ingest {N} {BATCH} {CONCURRENCY}")
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Every SQL statement of the metrics service; nothing else knows its tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from .engagement import AGGREGATE_SQL, BASIS_SQL, DENOMINATOR_SQL, INTERACTIONS_SQL
from .vocabulary import POST_METRICS, VOCABULARY

DUE_CHANNEL = "metrics_collections"

_OUTSTANDING = "SELECT count(*) FROM collections WHERE state = 'requested' AND due_at > clock_timestamp()"


def seconds_until_next_sql(in_flight: int) -> str:
    """Seconds until the next reading is due; NULL (sleep until woken or the sweep) while
    ``in_flight`` requests already wait for an answer."""
    return (
        f"SELECT CASE WHEN ({_OUTSTANDING}) >= {int(in_flight)} THEN NULL ELSE"
        " (SELECT extract(epoch FROM min(due_at) - clock_timestamp())::float8 FROM collections"
        "  WHERE state IN ('planned', 'requested')) END"
    )


async def outstanding(conn: asyncpg.Connection) -> int:
    """Requests sent and still waiting for an answer (not yet timed out)."""
    return await conn.fetchval(_OUTSTANDING)


# The readings' value columns are the vocabulary's names; followers is the account's, not the post's.
VALUE_COLUMNS = VOCABULARY
POST_VALUES = POST_METRICS

# --------------------------------------------------------------------------- read models


async def upsert_account(conn: asyncpg.Connection, account_id: str, platform: str, handle: str | None,
                         display_name: str | None, status: str, insights: bool | None = None) -> None:
    """``insights`` None: as it was (true for an account not known yet)."""
    await conn.execute(
        """
        INSERT INTO accounts (account_id, platform, handle, display_name, status, insights, updated_at)
        VALUES ($1, $2, $3, $4, $5, coalesce($6, true), now())
        ON CONFLICT (account_id) DO UPDATE SET platform = EXCLUDED.platform,
            handle = coalesce(EXCLUDED.handle, accounts.handle),
            display_name = coalesce(EXCLUDED.display_name, accounts.display_name),
            status = EXCLUDED.status, insights = coalesce($6, accounts.insights), updated_at = now()
        """,
        account_id, platform, handle, display_name, status, insights,
    )


async def gives_insights(conn: asyncpg.Connection, account_id: str) -> bool:
    """Whether to ask about this account's posts: yes unless its account.* event said no."""
    return await conn.fetchval("SELECT insights FROM accounts WHERE account_id = $1", account_id) is not False


async def upsert_post(conn: asyncpg.Connection, post_id: str, text: str, hashtags: list[str],
                      campaign_id: str | None, campaign_hashtags: list[str], scheduled_at: datetime) -> None:
    await conn.execute(
        """
        INSERT INTO posts (post_id, text, hashtags, campaign_id, campaign_hashtags, scheduled_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, now())
        ON CONFLICT (post_id) DO UPDATE SET text = EXCLUDED.text, hashtags = EXCLUDED.hashtags,
            campaign_id = EXCLUDED.campaign_id, campaign_hashtags = EXCLUDED.campaign_hashtags,
            scheduled_at = EXCLUDED.scheduled_at, updated_at = now()
        """,
        post_id, text, hashtags, campaign_id, campaign_hashtags, scheduled_at,
    )


async def insert_target(conn: asyncpg.Connection, *, target_id: str, post_id: str, account_id: str, platform: str,
                        platform_post_id: str, url: str | None, published_at: datetime, correlation_id: str) -> bool:
    inserted = await conn.fetchval(
        """
        INSERT INTO targets (target_id, post_id, account_id, platform, platform_post_id, url, published_at,
                             correlation_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (target_id) DO NOTHING RETURNING 1
        """,
        target_id, post_id, account_id, platform, platform_post_id, url, published_at, correlation_id,
    )
    return inserted is not None


# --------------------------------------------------------------------------- planning


async def plan_post(conn: asyncpg.Connection, rows: Sequence[tuple]) -> None:
    """rows: (request_id, stage, target_id, post_id, account_id, platform, platform_post_id,
    published_at, correlation_id, planned_at)."""
    await conn.executemany(
        """
        INSERT INTO collections (request_id, kind, stage, target_id, post_id, account_id, platform,
                                 platform_post_id, published_at, correlation_id, planned_at, due_at)
        VALUES ($1, 'post', $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
        ON CONFLICT (request_id) DO NOTHING
        """,
        rows,
    )
    await conn.execute("SELECT pg_notify($1, '')", DUE_CHANNEL)


async def plan_audience(conn: asyncpg.Connection, rows: Sequence[tuple[uuid.UUID, str, str, datetime]]) -> None:
    """rows: (request_id, account_id, platform, planned_at); at most one planned per account."""
    await conn.executemany(
        """
        INSERT INTO collections (request_id, kind, stage, account_id, platform, correlation_id, planned_at, due_at)
        VALUES ($1::uuid, 'account', 'audience', $2, $3, ($1::uuid)::text, $4, $4)
        ON CONFLICT (account_id) WHERE kind = 'account' AND state = 'planned' DO NOTHING
        """,
        rows,
    )
    await conn.execute("SELECT pg_notify($1, '')", DUE_CHANNEL)


async def active_accounts(conn: asyncpg.Connection, account_ids: list[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT account_id FROM accounts WHERE account_id = ANY($1::text[]) AND status = 'active' AND insights",
        account_ids
    )
    return {r["account_id"] for r in rows}


async def claim_due(conn: asyncpg.Connection, limit: int, answer_timeout: timedelta) -> list[asyncpg.Record]:
    """Take up to ``limit`` due collections: each is (re)requested now and asked again after
    ``answer_timeout`` unless answered. Returns them with the state they had and the post's
    campaign where known."""
    return await conn.fetch(
        """
        WITH due AS (
            SELECT request_id, state AS previous_state FROM collections
            WHERE state IN ('planned', 'requested') AND due_at <= (SELECT clock_timestamp())
            ORDER BY due_at
            LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        UPDATE collections c
        SET state = 'requested', attempts = c.attempts + 1, requested_at = clock_timestamp(),
            due_at = clock_timestamp() + $2::interval, updated_at = clock_timestamp()
        FROM due
        WHERE c.request_id = due.request_id
        RETURNING c.*, due.previous_state,
            (SELECT p.campaign_id FROM posts p WHERE p.post_id = c.post_id) AS campaign_id
        """,
        limit,
        answer_timeout,
    )


async def give_up(conn: asyncpg.Connection, request_ids: list[uuid.UUID], reason: str) -> None:
    await conn.execute(
        "UPDATE collections SET state = 'failed', reason = $2, updated_at = clock_timestamp()"
        " WHERE request_id = ANY($1::uuid[])",
        request_ids, reason,
    )


# --------------------------------------------------------------------------- answers


# One statement stores a whole batch of answers. siar_metrics.ingest hands the answers over as
# they came ($1: one JSON array of the insights.collected payloads, with only the fields read
# here — the cheapest way to hand thousands of values over); this statement does the rest, so
# that no value passes through Python one by one:
# - takes the readings answered off the list (the deduplication: an answer whose reading is gone
#   matches nothing);
# - appends every raw value as a sample with its normalised name (the vocabulary, $2–$5, is
#   siar_metrics.vocabulary's; a name it does not list is kept with none);
# - adds up the values under each normalised name (vocabulary.normalise, here in SQL) and appends
#   the reading with them, the account's followers at the time (a post's) or the followers read
#   (an account's), the post's engagement (siar_metrics.engagement's *_SQL), the answer's raw
#   values and (by default) the transaction's id: the announcer publishes each reading's event
#   from there (ANNOUNCE below, siar_metrics.announce), so nothing of the event is written here;
# - keeps each account's newest followers read, and each platform's last collected answer with
#   the batch's last failed one ($7, $8), in one upsert in platform order. Every batch shares
#   these rows, so their locks come in one order everywhere — accounts, then platforms (touched
#   reads followed, which runs it first), as the separate statements before did — and last:
#   PostgreSQL runs the data-modifying CTEs the final SELECT does not read after it (in
#   practice the last written first; the documentation leaves the order open, and only this
#   waiting depends on it), so the readings, written below them, go in before these shared rows
#   are locked and a concurrent batch waits only for the end of this one;
# - notifies the announcer's channel ($6) when it stored readings.
# A post's reading is rated on the followers known before this statement: an audience reading in
# the same batch counts from the next one on, as it would in the next batch.
# Returns, per platform and kind, the answers stored and their samples. (The followers, platforms
# and notification were three more round trips and a loop over the answers in Python: about a
# sixth of the ingest's time, measured.)
_SUMS_BY_METRIC = ", ".join(f"sum(value) FILTER (WHERE metric = '{name}') AS {name}" for name in VALUE_COLUMNS)
_STORE_COLLECTED = f"""
WITH answer AS (
    SELECT * FROM json_to_recordset($1::text::json) AS a(
        request_id uuid, kind text, platform text, account_id text, collected_at timestamptz, metrics json)
), taken AS (
    DELETE FROM collections c USING answer a
    WHERE c.request_id = a.request_id AND c.kind = a.kind AND c.platform = a.platform
      AND c.account_id = a.account_id
    RETURNING c.request_id, c.kind, c.stage, c.target_id, c.post_id, c.account_id, c.platform, c.platform_post_id,
              c.published_at, c.correlation_id, c.planned_at, c.attempts, a.collected_at, a.metrics AS raw
), vocabulary AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS v(kind, platform, raw_name, metric)
), sampled AS (
    INSERT INTO samples (request_id, collected_at, platform, account_id, target_id, metric, raw_name, value)
    SELECT t.request_id, t.collected_at, t.platform, t.account_id, t.target_id, v.metric, r.key, r.value::float8
    FROM taken t
    CROSS JOIN LATERAL json_each_text(t.raw) r
    LEFT JOIN vocabulary v ON v.kind = t.kind AND v.platform = t.platform AND v.raw_name = r.key
    RETURNING request_id, metric, value
), normalised AS (
    SELECT request_id, count(*) AS samples, {_SUMS_BY_METRIC}
    FROM sampled
    GROUP BY request_id
), reading AS (
    SELECT t.*, coalesce(n.samples, 0) AS samples, {", ".join("n." + name for name in POST_VALUES)},
           CASE WHEN t.kind = 'post' THEN a.followers ELSE n.followers END AS followers
    FROM taken t
    LEFT JOIN normalised n ON n.request_id = t.request_id
    LEFT JOIN accounts a ON t.kind = 'post' AND a.account_id = t.account_id
), rated AS MATERIALIZED (
    SELECT r.*, CASE WHEN kind = 'post' THEN {INTERACTIONS_SQL} END AS interactions,
           CASE WHEN kind = 'post' THEN {DENOMINATOR_SQL} END AS denominator,
           CASE WHEN kind = 'post' THEN {BASIS_SQL} END AS basis
    FROM reading r
), followed AS (
    INSERT INTO accounts AS a (account_id, platform, followers, followers_at)
    SELECT DISTINCT ON (account_id) account_id, platform, followers, collected_at
    FROM rated WHERE kind = 'account' AND followers IS NOT NULL
    ORDER BY account_id, collected_at DESC
    ON CONFLICT (account_id) DO UPDATE SET followers = EXCLUDED.followers, followers_at = EXCLUDED.followers_at
    WHERE a.followers_at IS NULL OR a.followers_at < EXCLUDED.followers_at
    RETURNING 1
), touched AS (
    INSERT INTO platforms AS p (platform, last_collected_at, last_failed_at)
    SELECT platform, max(collected_at), max(failed_at) FROM (
        SELECT platform, collected_at, NULL::timestamptz AS failed_at FROM rated
        UNION ALL
        SELECT platform, NULL, failed_at FROM unnest($7::text[], $8::timestamptz[]) AS f(platform, failed_at)
    ) AS t
    WHERE (SELECT count(*) FROM followed) >= 0  -- runs followed first: accounts' rows, then platforms'
    GROUP BY platform ORDER BY platform
    ON CONFLICT (platform) DO UPDATE SET
        last_collected_at = greatest(p.last_collected_at, EXCLUDED.last_collected_at),
        last_failed_at = greatest(p.last_failed_at, EXCLUDED.last_failed_at)
), read AS (
    INSERT INTO readings (request_id, kind, stage, target_id, post_id, account_id, platform, planned_at,
                          collected_at, attempts, views, reach, likes, comments, shares, saves, clicks, followers,
                          interactions, denominator, basis, raw, platform_post_id, published_at, correlation_id)
    SELECT request_id, kind, stage, target_id, post_id, account_id, platform, planned_at, collected_at, attempts,
           views, reach, likes, comments, shares, saves, clicks, followers, interactions, denominator, basis, raw,
           platform_post_id, published_at, correlation_id
    FROM rated
)
SELECT platform, kind, count(*) AS answers, sum(samples)::int AS samples,
       (SELECT count(*) FROM (SELECT pg_notify($6, '')) AS x) AS notified
FROM rated GROUP BY platform, kind
"""


async def store_collected(conn: asyncpg.Connection, answers: bytes, vocabulary: Sequence[Sequence[str | None]],
                          *, channel: str, failed: dict[str, datetime]) -> list[asyncpg.Record]:
    """answers: a JSON array of insights.collected payloads (request_id, kind, platform,
    account_id, collected_at and metrics are read); vocabulary: (kind, platform, raw name,
    metric) columns; channel: the announcer's, notified when readings were stored; failed: the
    platforms' last failed answer in the same batch (platform -> failed_at), noted with the
    collected ones. Returns, per platform and kind, the answers stored and their samples."""
    return await conn.fetch(_STORE_COLLECTED, answers.decode(), *vocabulary, channel,
                            list(failed), list(failed.values()))


# --------------------------------------------------------------------------- announcing

ANNOUNCED_CHANNEL = "metrics_readings"
TXID_DEFAULT = "(pg_current_xact_id()::text::bigint)"  # readings.txid's, as the migration sets it (offset 0)

# Where the announcer is, and the horizon: every transaction with a smaller id has ended, so every
# reading it stored is visible now and none can appear later (siar_metrics.announce). The row is
# locked for the window: a second replica skips it and waits for the next. _PEEK is the same
# without the lock, to see whether there is anything to announce before taking it (a lock
# costs the transaction an id and a WAL record, every poll of every replica).
_CURSOR = """
SELECT txid, request_id, pg_snapshot_xmin(pg_current_snapshot())::text::bigint + txid_offset AS horizon
FROM announced WHERE log = 'readings' FOR UPDATE SKIP LOCKED
"""
_PEEK = """
SELECT txid, request_id, pg_snapshot_xmin(pg_current_snapshot())::text::bigint + txid_offset AS horizon,
       greatest(txid, (SELECT max(txid) FROM readings))
           >= pg_snapshot_xmax(pg_current_snapshot())::text::bigint + txid_offset AS restored
FROM announced WHERE log = 'readings'
"""
_ANY = """
SELECT true FROM readings r WHERE (r.txid, r.request_id) > ($1, $2) AND r.txid < $3 AND r.raw IS NOT NULL
ORDER BY r.txid, r.request_id LIMIT 1  -- in the index's order (an EXISTS may scan the table from its old end)
"""

# The events of the next readings after the cursor ($1, $2) and below the horizon ($3), in the
# log's order, with each event's JSON put together here from the reading's columns. A reading
# without its raw answer was stored by the version before the announcer (a replica still running
# it during a rolling upgrade): its event went through the outbox, and is not repeated here. The event's
# id is the reading's request id (one reading, one event, always under the same id: a window
# announced again after a crash repeats the same events, which the consumers' inbox absorbs), its
# time when the values were collected. The reading keeps the platform's post id, the publication
# time and the correlation id as they were planned (an account's reading is correlated by its own
# request id, as it was asked); the post gives its campaign, as it is when announced.
_METRIC_PAIRS = ", ".join(f"""'"{name}":' || r.{name}""" for name in POST_VALUES)  # '"likes":' || r.likes, …
ANNOUNCE = f"""
SELECT r.txid, r.request_id, r.kind, coalesce(r.correlation_id, r.request_id::text) AS correlation_id,
       extract(epoch FROM clock_timestamp() - r.collected_at)::float8 AS age,
       convert_to(
           '{{"specversion":"1.0","id":"' || r.request_id::text || '","source":"/siar/metrics","type":"'
           || CASE WHEN r.kind = 'post' THEN $5 ELSE $6 END || '","time":' || to_json(r.collected_at)::text
           || ',"subject":' || to_json(CASE WHEN r.kind = 'post' THEN 'target/' || r.target_id
                                           ELSE 'account/' || r.account_id END)::text
           || ',"datacontenttype":"application/json","correlationid":'
           || to_json(coalesce(r.correlation_id, r.request_id::text))::text
           || ',"data":{{"request_id":"' || r.request_id::text || '",'
           || CASE WHEN r.kind = 'post' THEN
                  '"post_id":' || coalesce(to_json(r.post_id)::text, 'null')
                  || ',"target_id":' || to_json(r.target_id)::text
                  || ',"platform_post_id":' || coalesce(to_json(r.platform_post_id)::text, 'null')
                  || ',"campaign_id":' || coalesce(to_json(p.campaign_id)::text, 'null')
                  || ',"published_at":' || coalesce(to_json(r.published_at)::text, 'null') || ','
              ELSE '' END
           || '"account_id":' || to_json(r.account_id)::text || ',"platform":' || to_json(r.platform)::text
           || ',"collected_at":' || to_json(r.collected_at)::text || ',"raw":' || coalesce(r.raw::text, '{{}}')
           || CASE WHEN r.kind = 'post' THEN
                  -- concat_ws leaves out the names with no value (NULL)
                  ',"metrics":{{' || concat_ws(',', {_METRIC_PAIRS})
                  || '}},"engagement_rate":' || coalesce((r.interactions / r.denominator)::text, 'null')
                  || ',"engagement_basis":' || coalesce(to_json(r.basis)::text, 'null')
              ELSE ',"followers":' || coalesce(r.followers::text, 'null') END
           || '}}}}', 'UTF8') AS body
FROM readings r
LEFT JOIN posts p ON r.kind = 'post' AND p.post_id = r.post_id
WHERE (r.txid, r.request_id) > ($1, $2) AND r.txid < $3 AND r.raw IS NOT NULL
ORDER BY r.txid, r.request_id
LIMIT $4
"""


# readings.txid's default, as PostgreSQL writes it back (the announcer reads the offset it adds).
_DEFAULT_EXPR = """
SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE d.adrelid = 'readings'::regclass AND a.attname = 'txid'
"""


async def default_offset(conn: asyncpg.Connection) -> int:
    """The offset readings.txid's default adds to this server's transaction id (evaluated with
    the id as 0, so that asking assigns none). A default that is not the announcer's is refused:
    readings stored with it could never be announced."""
    expr = await conn.fetchval(_DEFAULT_EXPR)
    if not expr or expr.count("pg_current_xact_id()") != 1:
        raise RuntimeError(f"metrics.readings.txid's default is {expr!r}, not {TXID_DEFAULT} plus an offset:"
                           " the announcer cannot follow the readings (docs/operations.md, restore)")
    zero = "'0'::xid8"
    return await conn.fetchval("SELECT " + expr.replace("pg_current_xact_id()", zero))


async def announce_cursor(conn: asyncpg.Connection) -> asyncpg.Record | None:
    """The cursor and the horizon, the cursor's row locked for this transaction; None while
    another replica's announcer holds it. A cursor found missing (its row deleted by hand) starts
    again from the beginning, with the offset readings.txid's default adds: events repeated,
    which consumers absorb, rather than lost. Call it inside a transaction."""
    cursor = await conn.fetchrow(_CURSOR)
    if cursor is None and not await conn.fetchval("SELECT EXISTS (SELECT FROM announced WHERE log = 'readings')"):
        await conn.execute("INSERT INTO announced (log, txid, request_id, txid_offset) VALUES ('readings', 0, $1, $2)"
                           " ON CONFLICT (log) DO NOTHING", uuid.UUID(int=0), await default_offset(conn))
        cursor = await conn.fetchrow(_CURSOR)
    return cursor


async def peek(conn: asyncpg.Connection) -> tuple[bool, bool]:
    """(restored, waiting), without locking anything or taking a transaction id: whether the
    database now holds txids at or above this server's next one (restored into another server:
    rebase_if_restored), and whether a reading waits below the horizon."""
    cursor = await conn.fetchrow(_PEEK)
    if cursor is None:
        return False, True  # the window recreates the cursor
    waiting = await conn.fetchval(_ANY, cursor["txid"], cursor["request_id"], cursor["horizon"])
    return bool(cursor["restored"]), bool(waiting)


WAITING_COUNTED = 100_000  # a gauge refreshed every few seconds must stay cheap during a long stall


async def events_waiting(conn: asyncpg.Connection) -> tuple[int, float]:
    """Readings stored and not announced yet (counted up to WAITING_COUNTED), and for how long the
    oldest of them has waited (seconds since it was collected or since the announcer last moved,
    whichever is later; 0 when none waits)."""
    cursor = await conn.fetchrow("SELECT txid, request_id, updated_at FROM announced WHERE log = 'readings'")
    if cursor is None:
        return 0, 0.0
    row = await conn.fetchrow(
        "SELECT count(*) AS waiting, CASE WHEN count(*) > 0 THEN"
        " extract(epoch FROM clock_timestamp() - greatest(min(collected_at), $3))::float8 END AS seconds"
        " FROM (SELECT collected_at FROM readings WHERE (txid, request_id) > ($1, $2) AND raw IS NOT NULL"
        f"       ORDER BY txid, request_id LIMIT {WAITING_COUNTED}) AS w",  # the index's order, and bounded
        cursor["txid"], cursor["request_id"], cursor["updated_at"])
    return row["waiting"], max(0.0, row["seconds"] or 0.0)


async def rebase_if_restored(conn: asyncpg.Connection) -> int | None:
    """After a restore into another PostgreSQL server the readings and the cursor carry the old
    server's transaction ids, and this server's would start again below them: new readings
    stepped over for good, old ones announced only when the new ids catch up. Seen as a txid at
    or above this server's next one (peek), which never happens otherwise; or as the offset in
    readings.txid's default and the cursor's no longer the same (a data-only restore, a default
    changed by hand). Then, in one transaction: the cursor's row locked (no window meanwhile),
    the readings locked (the ALTER below takes ACCESS EXCLUSIVE: no reading stored or read
    meanwhile, a few milliseconds once the storing transactions in flight have ended), and one
    offset above every txid stored written to both: whatever the old server left unannounced
    goes out first, then every new reading. No reading is rewritten. Returns the new offset, or
    None when nothing had to change (looked at without a lock first; replicas starting together
    take turns on the cursor's row)."""
    restored, _ = await peek(conn)
    row = await conn.fetchrow("SELECT txid_offset FROM announced WHERE log = 'readings'")
    if not restored and row is not None and row["txid_offset"] == await default_offset(conn):
        return None
    async with conn.transaction():
        await conn.execute("INSERT INTO announced (log, txid, request_id, txid_offset) VALUES ('readings', 0, $1, $2)"
                           " ON CONFLICT (log) DO NOTHING", uuid.UUID(int=0), await default_offset(conn))
        cursor = await conn.fetchrow("SELECT txid, txid_offset FROM announced WHERE log = 'readings' FOR UPDATE")
        await conn.execute("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")
        default = await default_offset(conn)
        restored, _ = await peek(conn)
        if not restored and cursor["txid_offset"] == default:
            return None  # another replica did it
        offset = max(default, cursor["txid_offset"])
        if restored:
            offset = max(offset, await conn.fetchval(
                "SELECT greatest($1::bigint, (SELECT max(txid) FROM readings)) + 1", cursor["txid"]))
        await conn.execute(f"ALTER TABLE readings ALTER COLUMN txid SET DEFAULT ({TXID_DEFAULT} + {int(offset)})")
        await conn.execute("UPDATE announced SET txid_offset = $1, updated_at = clock_timestamp()"
                           " WHERE log = 'readings'", offset)
    return offset


async def unannounced(conn: asyncpg.Connection, cursor: asyncpg.Record, limit: int,
                      types: tuple[str, str]) -> list[asyncpg.Record]:
    """The next readings' events after ``cursor`` (announce_cursor's), at most ``limit``; types:
    the engagement.sampled and audience.sampled CloudEvent types."""
    return await conn.fetch(ANNOUNCE, cursor["txid"], cursor["request_id"], cursor["horizon"], limit, *types)


async def advance_cursor(conn: asyncpg.Connection, txid: int, request_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE announced SET txid = $1, request_id = $2, updated_at = clock_timestamp() WHERE log = 'readings'",
        txid, request_id,
    )


async def mark_failed(conn: asyncpg.Connection, columns: dict[str, list], max_attempts: int,
                      backoff_seconds: float, backoff_max_seconds: float) -> list[asyncpg.Record]:
    """A failed answer to a request still waiting for one: retried (planned again at retry_at,
    or after a jittered exponential backoff) while retryable and attempts remain, else failed."""
    rows = await conn.fetch(
        """
        WITH v AS (
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::bool[])
                AS v(request_id, error_class, reason, retry_at, retryable)
        )
        UPDATE collections c
        SET state = CASE WHEN v.retryable AND c.attempts < $6 THEN 'planned' ELSE 'failed' END,
            due_at = CASE WHEN v.retryable AND c.attempts < $6 THEN greatest(
                        coalesce(v.retry_at, clock_timestamp() + make_interval(secs =>
                            least($8::float8, $7::float8 * 2 ^ greatest(c.attempts - 1, 0)) * (0.5 + random() / 2))),
                        clock_timestamp())
                     ELSE c.due_at END,
            error_class = v.error_class,
            reason = CASE WHEN v.retryable AND c.attempts >= $6
                          THEN 'gave up after ' || c.attempts || ' attempts: ' || v.reason ELSE v.reason END,
            updated_at = clock_timestamp()
        FROM v
        WHERE c.request_id = v.request_id AND c.state = 'requested'
        RETURNING c.request_id, c.kind, c.account_id, c.platform, c.state, c.due_at, c.attempts, c.error_class,
                  c.reason
        """,
        columns["request_id"], columns["error_class"], columns["reason"], columns["retry_at"], columns["retryable"],
        max_attempts, backoff_seconds, backoff_max_seconds,
    )
    if any(r["state"] == "planned" for r in rows):
        await conn.execute("SELECT pg_notify($1, '')", DUE_CHANNEL)
    return rows


async def touch_failed_platforms(conn: asyncpg.Connection, failed: dict[str, datetime]) -> None:
    """The platforms' last failed answer, for a batch of failures alone (with answers collected,
    store_collected notes both in one upsert)."""
    names = sorted(failed)
    if not names:
        return
    await conn.execute(
        """
        INSERT INTO platforms AS p (platform, last_failed_at)
        SELECT * FROM unnest($1::text[], $2::timestamptz[])
        ON CONFLICT (platform) DO UPDATE SET last_failed_at = greatest(p.last_failed_at, EXCLUDED.last_failed_at)
        """,
        names, [failed[n] for n in names],
    )


# --------------------------------------------------------------------------- retention and gauges


async def prune(conn: asyncpg.Connection, days: int) -> tuple[int, int]:
    """Forget samples, readings and failed readings older than ``days``; (samples, readings) deleted."""
    samples = await conn.execute(
        "DELETE FROM samples WHERE collected_at < now() - make_interval(days => $1)", days
    )
    # A reading not announced yet stays until the announcer has published its event.
    readings = await conn.execute(
        """
        DELETE FROM readings WHERE collected_at < now() - make_interval(days => $1)
          AND (txid IS NULL OR (txid, request_id) <= (SELECT txid, request_id FROM announced WHERE log = 'readings'))
        """, days
    )
    await conn.execute(
        "DELETE FROM collections WHERE state = 'failed' AND updated_at < now() - make_interval(days => $1)", days
    )
    return int(samples.split()[-1]), int(readings.split()[-1])


async def platform_times(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT platform, last_collected_at, last_failed_at FROM platforms ORDER BY platform")


# --------------------------------------------------------------------------- reports

ORDERS = ("engagement_rate", "interactions", *POST_VALUES)

# Each target's reading: its latest, or the one at a stage; for targets published in [$1, $2).
_READINGS = """
    readings AS (
        SELECT DISTINCT ON (c.target_id) c.*
        FROM readings c JOIN targets t ON t.target_id = c.target_id
        WHERE c.kind = 'post'
          AND t.published_at >= $1 AND t.published_at < $2
          AND ($3::text IS NULL OR t.platform = $3)
          AND ($4::text IS NULL OR c.stage = $4)
        ORDER BY c.target_id, c.collected_at DESC
    )
"""

_SUMS = ", ".join(f"sum(c.{name}) AS {name}" for name in POST_VALUES)


async def top_posts(conn: asyncpg.Connection, start: datetime, end: datetime, platform: str | None,
                    stage: str | None, order_by: str, limit: int) -> list[asyncpg.Record]:
    if order_by not in ORDERS:
        raise ValueError(f"cannot order by {order_by!r}")
    key = "c.interactions / nullif(c.denominator, 0)" if order_by == "engagement_rate" else f"c.{order_by}"
    return await conn.fetch(
        f"""
        WITH {_READINGS}
        SELECT c.*, t.post_id AS t_post_id, t.account_id AS t_account_id, t.url, t.published_at AS t_published_at,
               p.text, coalesce(p.hashtags, '{{}}') AS hashtags, p.campaign_id, a.handle
        FROM readings c JOIN targets t ON t.target_id = c.target_id
        LEFT JOIN posts p ON p.post_id = t.post_id
        LEFT JOIN accounts a ON a.account_id = t.account_id
        ORDER BY {key} DESC NULLS LAST, c.interactions DESC NULLS LAST, t.published_at DESC
        LIMIT $5
        """,
        start, end, platform, stage, limit,
    )


_GROUP_KEYS = {  # group_by -> (key, label, join)
    "campaign": ("p.campaign_id", "min(array_to_string(p.campaign_hashtags, ' '))", ""),
    "hashtag": ("lower(h.tag)", "min(h.tag)", "CROSS JOIN LATERAL unnest(p.hashtags) AS h(tag)"),
    "platform": ("t.platform", "NULL::text", ""),
    "account": ("t.account_id", "min(a.handle)", ""),
}


async def performance(conn: asyncpg.Connection, start: datetime, end: datetime, platform: str | None,
                      stage: str | None, group_by: str) -> list[asyncpg.Record]:
    key, label, join = _GROUP_KEYS[group_by]
    return await conn.fetch(
        f"""
        WITH {_READINGS}
        SELECT {key} AS key, {label} AS label,
               count(DISTINCT t.post_id) AS posts, count(*) AS targets, {_SUMS},
               coalesce(sum(c.interactions), 0) AS interactions,
               sum(c.denominator) FILTER (WHERE c.denominator > 0) AS denominator,
               {AGGREGATE_SQL} AS engagement_rate,
               count(*) FILTER (WHERE c.basis = 'reach') AS by_reach,
               count(*) FILTER (WHERE c.basis = 'views') AS by_views,
               count(*) FILTER (WHERE c.basis = 'followers') AS by_followers,
               count(*) FILTER (WHERE c.basis IS NULL) AS by_none
        FROM readings c JOIN targets t ON t.target_id = c.target_id
        LEFT JOIN posts p ON p.post_id = t.post_id
        LEFT JOIN accounts a ON a.account_id = t.account_id
        {join}
        GROUP BY 1
        ORDER BY engagement_rate DESC NULLS LAST, interactions DESC, key
        """,
        start, end, platform, stage,
    )


async def audience(conn: asyncpg.Connection, start: datetime, end: datetime, timezone: str,
                   platform: str | None, account_id: str | None) -> list[asyncpg.Record]:
    """The last audience reading of each account on each local day in [start, end)."""
    return await conn.fetch(
        """
        SELECT DISTINCT ON (c.account_id, day)
               c.account_id, c.platform, a.handle, (c.collected_at AT TIME ZONE $3)::date AS day,
               c.followers, c.collected_at
        FROM readings c LEFT JOIN accounts a ON a.account_id = c.account_id
        WHERE c.kind = 'account' AND c.followers IS NOT NULL
          AND c.collected_at >= $1 AND c.collected_at < $2
          AND ($4::text IS NULL OR c.platform = $4) AND ($5::text IS NULL OR c.account_id = $5)
        ORDER BY c.account_id, day, c.collected_at DESC
        """,
        start, end, timezone, platform, account_id,
    )


async def best_hours(conn: asyncpg.Connection, start: datetime, end: datetime, timezone: str,
                     platform: str | None, stage: str | None) -> list[asyncpg.Record]:
    """Posts by local day of week (1 Monday) and hour of publication, with their engagement."""
    return await conn.fetch(
        f"""
        WITH {_READINGS}
        SELECT extract(isodow FROM t.published_at AT TIME ZONE $5)::int AS dow,
               extract(hour FROM t.published_at AT TIME ZONE $5)::int AS hour,
               count(DISTINCT t.post_id) AS posts, count(*) AS targets, avg(c.interactions) AS mean_interactions,
               {AGGREGATE_SQL} AS engagement_rate
        FROM readings c JOIN targets t ON t.target_id = c.target_id
        GROUP BY 1, 2
        ORDER BY 1, 2
        """,
        start, end, platform, stage, timezone,
    )


async def post_engagement(conn: asyncpg.Connection, post_id: str) -> tuple[asyncpg.Record | None, list]:
    """The post (read model) and every reading of each of its targets, with the raw values (rows:
    records, or dicts for the readings whose raw values came from their samples)."""
    post = await conn.fetchrow("SELECT * FROM posts WHERE post_id = $1", post_id)
    readings = await conn.fetch(
        """
        WITH mine AS (SELECT * FROM targets WHERE post_id = $1),
        every AS (
            SELECT r.request_id, r.target_id, r.stage, 'collected' AS state, r.planned_at, r.collected_at,
                   r.attempts, NULL AS error_class, NULL AS reason, r.views, r.reach, r.likes, r.comments,
                   r.shares, r.saves, r.clicks, r.followers, r.interactions, r.denominator, r.basis,
                   r.raw::jsonb AS raw
            FROM readings r WHERE r.kind = 'post' AND r.target_id IN (SELECT target_id FROM mine)
            UNION ALL
            SELECT c.request_id, c.target_id, c.stage, c.state, c.planned_at, NULL, c.attempts, c.error_class,
                   c.reason, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{}'
            FROM collections c WHERE c.kind = 'post' AND c.target_id IN (SELECT target_id FROM mine)
        )
        SELECT t.target_id, t.account_id, a.handle, t.platform, t.platform_post_id, t.url, t.published_at,
               e.request_id, e.stage, e.state, e.planned_at, e.collected_at, e.attempts, e.error_class, e.reason,
               e.views, e.reach, e.likes, e.comments, e.shares, e.saves, e.clicks, e.followers,
               e.interactions, e.denominator, e.basis, e.raw
        FROM mine t LEFT JOIN every e ON e.target_id = t.target_id
        LEFT JOIN accounts a ON a.account_id = t.account_id
        ORDER BY t.platform, t.target_id, e.planned_at, e.collected_at
        """,
        post_id,
    )
    # A reading keeps its raw answer since the announcer; the few a replica of the version before
    # stored during the upgrade (after the migrations filled in the older ones) take it from their
    # samples, in one scan for the page (the samples keep no index), and only when there are any.
    missing = [r["request_id"] for r in readings if r["request_id"] is not None and r["raw"] is None]
    if missing:
        found = {row["request_id"]: row["raw"] for row in await conn.fetch(
            "SELECT request_id, jsonb_object_agg(raw_name, value) AS raw FROM samples"
            " WHERE request_id = ANY($1::uuid[]) GROUP BY request_id", missing)}
        readings = [dict(r) | {"raw": found.get(r["request_id"], {})}
                    if r["request_id"] is not None and r["raw"] is None else r for r in readings]
    return post, readings


async def list_collections(conn: asyncpg.Connection, state: str | None, kind: str | None,
                           platform: str | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT c.*, a.handle FROM collections c LEFT JOIN accounts a ON a.account_id = c.account_id
        WHERE ($1::text IS NULL OR c.state = $1) AND ($2::text IS NULL OR c.kind = $2)
          AND ($3::text IS NULL OR c.platform = $3)
        ORDER BY c.updated_at DESC LIMIT $4
        """,
        state, kind, platform, limit,
    )


async def gauge_rows(conn: asyncpg.Connection, days: int) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """Per (platform, campaign): posts, interactions and the rate's numerator and denominator over
    the targets published in the last ``days``; and per platform the accounts' latest followers."""
    now = await conn.fetchval("SELECT now()")
    engagement = await conn.fetch(
        f"""
        WITH {_READINGS}
        SELECT t.platform, p.campaign_id, count(*) AS targets,
               coalesce(sum(c.interactions), 0) AS interactions,
               coalesce(sum(c.interactions) FILTER (WHERE c.denominator > 0), 0) AS rated_interactions,
               coalesce(sum(c.denominator) FILTER (WHERE c.denominator > 0), 0) AS denominator
        FROM readings c JOIN targets t ON t.target_id = c.target_id
        LEFT JOIN posts p ON p.post_id = t.post_id
        GROUP BY 1, 2
        """,
        now - timedelta(days=days), now, None, None,
    )
    followers = await conn.fetch(
        "SELECT platform, count(*) AS accounts, sum(followers) AS followers FROM accounts"
        " WHERE followers IS NOT NULL AND status = 'active' GROUP BY 1"
    )
    return engagement, followers

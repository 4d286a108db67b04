"""SQL for accounts and deliveries: the only place that knows the publisher's tables."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

DELIVERY_CHANNEL = "publisher_deliveries"

# Both the claim and the "next due" query must agree on what is claimable.
_CLAIMABLE = """
    ((d.state = 'pending' AND d.next_attempt_at <= clock_timestamp())
     OR (d.state = 'in_flight' AND d.lease_until <= clock_timestamp()))
    AND (a.paused_until IS NULL OR a.paused_until <= clock_timestamp())
"""

SECONDS_UNTIL_NEXT = """
SELECT extract(epoch FROM min(t) - clock_timestamp())::float8 FROM (
    SELECT greatest(min(d.next_attempt_at), max(a.paused_until)) AS t
    FROM deliveries d JOIN accounts a USING (account_id)
    WHERE d.state = 'pending'
    GROUP BY d.account_id
    UNION ALL
    SELECT min(lease_until) FROM deliveries WHERE state = 'in_flight'
) next
"""


async def insert_delivery(conn: asyncpg.Connection, **row) -> bool:
    """The one delivery record per target; False when it already exists (a repeated post.due) or
    its target was cancelled before it came (recorded as cancelled, never sent)."""
    state = await conn.fetchval(
        """
        INSERT INTO deliveries (target_id, post_id, account_id, platform, correlation_id, due_at,
                                text, media, title, state, reason)
        SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::timestamptz, $7::text, $8::jsonb, $9::text,
               CASE WHEN c.reason IS NULL THEN 'pending' ELSE 'cancelled' END,
               c.reason
        FROM (SELECT 1) one LEFT JOIN cancellations c ON c.target_id = $1
        ON CONFLICT (target_id) DO NOTHING
        RETURNING state
        """,
        row["target_id"], row["post_id"], row["account_id"], row["platform"], row["correlation_id"],
        row["due_at"], row["text"], row["media"], row["title"],
    )
    if state == "pending":
        await conn.execute("SELECT pg_notify($1, '')", DELIVERY_CHANNEL)
    return state == "pending"


async def insert_deliveries(conn: asyncpg.Connection, rows: list[dict]) -> list[asyncpg.Record]:
    """Many delivery records in one statement (a batch of post.due); returns those that did not
    exist yet (target id and account id), and wakes the delivery runners once. A target cancelled
    before its post.due came is recorded as cancelled and not returned."""
    if not rows:
        return []
    created = await conn.fetch(
        """
        WITH inserted AS (
            INSERT INTO deliveries (target_id, post_id, account_id, platform, correlation_id, due_at,
                                    text, media, title, state, reason)
            SELECT u.target_id, post_id, account_id, platform, correlation_id, due_at, text, media::jsonb, title,
                   CASE WHEN c.reason IS NULL THEN 'pending' ELSE 'cancelled' END, c.reason
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                        $7::text[], $8::text[], $9::text[])
                 AS u(target_id, post_id, account_id, platform, correlation_id, due_at, text, media, title)
            LEFT JOIN cancellations c ON c.target_id = u.target_id
            ON CONFLICT (target_id) DO NOTHING
            RETURNING target_id, account_id, state
        )
        SELECT target_id, account_id FROM inserted WHERE state = 'pending'
        """,
        *(list(column) for column in zip(*(
            (r["target_id"], r["post_id"], r["account_id"], r["platform"], r["correlation_id"], r["due_at"],
             r["text"], json.dumps(r["media"]), r["title"])
            for r in rows
        ), strict=True)),
    )
    if created:
        await conn.execute("SELECT pg_notify($1, '')", DELIVERY_CHANNEL)
    return created


async def claim(
    conn: asyncpg.Connection, limit: int, lease_seconds: float, unmarked_platforms: list[str]
) -> list[asyncpg.Record]:
    """Lease up to ``limit`` claimable deliveries, with what is needed to make the call.

    A delivery reclaimed after its lease expired is "recovering" (its outcome is unknown) if its
    call had started, or if its platform does not mark calls (``unmarked_platforms``)."""
    return await conn.fetch(
        f"""
        WITH c AS (
            SELECT d.target_id FROM deliveries d JOIN accounts a USING (account_id)
            WHERE {_CLAIMABLE}
            ORDER BY d.next_attempt_at
            LIMIT $1
            FOR UPDATE OF d SKIP LOCKED
        )
        UPDATE deliveries d
        SET recovering = d.recovering OR (d.state = 'in_flight' AND (d.call_started_at IS NOT NULL
                                                                    OR d.platform = ANY($3::text[]))),
            call_started_at = NULL,
            state = 'in_flight',
            attempts = d.attempts + 1,
            lease_until = clock_timestamp() + make_interval(secs => $2),
            first_attempt_at = coalesce(d.first_attempt_at, clock_timestamp()),
            updated_at = clock_timestamp()
        FROM c, accounts a
        WHERE d.target_id = c.target_id AND a.account_id = d.account_id
        RETURNING d.*, a.handle, a.base_url, a.credentials, a.settings, a.limits,
                  a.status AS account_status, a.status_reason AS account_reason
        """,
        limit,
        lease_seconds,
        unmarked_platforms,
    )


async def mark_call_started(conn: asyncpg.Connection, target_id: str, attempt: int) -> bool:
    status = await conn.execute(
        "UPDATE deliveries SET call_started_at = clock_timestamp()"
        " WHERE target_id = $1 AND attempts = $2 AND state = 'in_flight'",
        target_id, attempt,
    )
    return status.endswith(" 1")


async def defer(conn: asyncpg.Connection, deferred: list[tuple[str, datetime]]) -> None:
    """Give claimed deliveries back, untried, until the account's rate lets them go."""
    await conn.executemany(
        """
        UPDATE deliveries d SET state = CASE WHEN c.reason IS NULL THEN 'pending' ELSE 'cancelled' END,
               reason = coalesce(c.reason, d.reason), attempts = attempts - 1, next_attempt_at = $2,
               lease_until = NULL, updated_at = clock_timestamp()
        FROM (SELECT 1) one LEFT JOIN cancellations c ON c.target_id = $1
        WHERE d.target_id = $1 AND d.state = 'in_flight'
        """,
        deferred,
    )


async def finish(
    conn: asyncpg.Connection,
    target_id: str,
    attempt: int,
    *,
    state: str,
    platform_post_id: str | None = None,
    url: str | None = None,
    error_class: str | None = None,
    reason: str | None = None,
    detail: str | None = None,
    next_attempt_at: datetime | None = None,
    recovering: bool = False,
) -> str | None:
    """Record an attempt's outcome; ``attempt`` fences out a worker whose lease was taken over
    (None). Returns the state recorded: a retry ('pending') of a target cancelled while the
    attempt was under way is recorded as 'cancelled', with the cancellation's reason."""
    return await conn.fetchval(
        """
        UPDATE deliveries d
        SET state = CASE WHEN $3 = 'pending' AND c.reason IS NOT NULL THEN 'cancelled' ELSE $3 END,
            platform_post_id = coalesce($4, platform_post_id), url = coalesce($5, url),
            error_class = $6, reason = CASE WHEN $3 = 'pending' AND c.reason IS NOT NULL THEN c.reason ELSE $7 END,
            detail = $8, next_attempt_at = coalesce($9, next_attempt_at), recovering = $10,
            lease_until = NULL, updated_at = clock_timestamp()
        FROM (SELECT 1) one LEFT JOIN cancellations c ON c.target_id = $1
        WHERE d.target_id = $1 AND d.attempts = $2 AND d.state = 'in_flight'
        RETURNING d.state
        """,
        target_id, attempt, state, platform_post_id, url, error_class, reason, detail,
        next_attempt_at, recovering,
    )


async def renew_lease(conn: asyncpg.Connection, target_id: str, attempt: int, lease_seconds: float) -> bool:
    """Extend the lease of an attempt under way, fenced like :func:`finish`: False when another
    worker took the delivery over (its lease is then left alone)."""
    status = await conn.execute(
        "UPDATE deliveries SET lease_until = clock_timestamp() + make_interval(secs => $3)"
        " WHERE target_id = $1 AND attempts = $2 AND state = 'in_flight'",
        target_id, attempt, lease_seconds,
    )
    return status.endswith(" 1")


async def wait_for_platform(
    conn: asyncpg.Connection, target_id: str, attempt: int, *, account_id: str, claimed_at: datetime,
    next_attempt_at: datetime, error_class: str, reason: str, detail: str | None,
) -> str | None:
    """An attempt that found the platform still processing what it sent: the delivery looks again
    at ``next_attempt_at`` and the attempt is not counted (nor its send in the account's rate log:
    the newest send logged since ``claimed_at`` is given back). Fenced like :func:`finish`; returns
    the state recorded ('cancelled' when the target was cancelled meanwhile) or None."""
    state = await conn.fetchval(
        """
        UPDATE deliveries d
        SET state = CASE WHEN c.reason IS NULL THEN 'pending' ELSE 'cancelled' END,
            reason = coalesce(c.reason, $5), error_class = $4, detail = $6, attempts = d.attempts - 1,
            next_attempt_at = $3, recovering = false, lease_until = NULL, updated_at = clock_timestamp()
        FROM (SELECT 1) one LEFT JOIN cancellations c ON c.target_id = $1
        WHERE d.target_id = $1 AND d.attempts = $2 AND d.state = 'in_flight'
        RETURNING d.state
        """,
        target_id, attempt, next_attempt_at, error_class, reason, detail,
    )
    if state is not None:
        await conn.execute(
            "DELETE FROM account_sends WHERE ctid = (SELECT ctid FROM account_sends"
            " WHERE account_id = $1 AND sent_at >= $2 ORDER BY sent_at DESC LIMIT 1)",
            account_id, claimed_at,
        )
    return state


async def finish_published_many(
    conn: asyncpg.Connection, outcomes: list[tuple[str, int, str, str | None]]
) -> set[str]:
    """:func:`finish` with state 'published' for many attempts at once — (target id, attempt,
    platform post id, url) each, fenced by the attempt like one at a time; returns the target
    ids recorded."""
    rows = await conn.fetch(
        """
        UPDATE deliveries d
        SET state = 'published', platform_post_id = coalesce(u.platform_post_id, d.platform_post_id),
            url = coalesce(u.url, d.url), error_class = NULL, reason = NULL, detail = NULL,
            recovering = false, lease_until = NULL, updated_at = clock_timestamp()
        FROM unnest($1::text[], $2::int[], $3::text[], $4::text[]) AS u(target_id, attempt, platform_post_id, url)
        WHERE d.target_id = u.target_id AND d.attempts = u.attempt AND d.state = 'in_flight'
        RETURNING d.target_id
        """,
        *(list(column) for column in zip(*outcomes, strict=True)),
    )
    return {r["target_id"] for r in rows}


async def fail_pending_of_account(
    conn: asyncpg.Connection, account_id: str, error_class: str, reason: str
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        UPDATE deliveries SET state = 'failed', error_class = $2, reason = $3, updated_at = clock_timestamp()
        WHERE account_id = $1 AND state = 'pending'
        RETURNING target_id, post_id, account_id, platform, correlation_id, attempts
        """,
        account_id, error_class, reason,
    )


async def fail_unclaimed(conn: asyncpg.Connection, target_id: str, error_class: str, reason: str) -> None:
    await conn.execute(
        "UPDATE deliveries SET state = 'failed', error_class = $2, reason = $3, updated_at = clock_timestamp()"
        " WHERE target_id = $1",
        target_id, error_class, reason,
    )


async def fail_unclaimed_many(conn: asyncpg.Connection, target_ids: list[str], error_class: str, reason: str) -> None:
    await conn.execute(
        "UPDATE deliveries SET state = 'failed', error_class = $2, reason = $3, updated_at = clock_timestamp()"
        " WHERE target_id = ANY($1::text[])",
        target_ids, error_class, reason,
    )


async def cancel(conn: asyncpg.Connection, target_ids: list[str], reason: str) -> int:
    """Remember the cancellation (for a post.due still to come, an attempt under way, a deferral)
    and cancel the deliveries waiting for their first attempt or a retry; returns how many."""
    await conn.execute(
        "INSERT INTO cancellations (target_id, reason) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING",
        target_ids, reason,
    )
    status = await conn.execute(
        "UPDATE deliveries SET state = 'cancelled', reason = $2, updated_at = clock_timestamp()"
        " WHERE target_id = ANY($1::text[]) AND state = 'pending'",
        target_ids, reason,
    )
    return int(status.split()[-1])


async def save_progress(conn: asyncpg.Connection, target_id: str, attempt: int, progress: dict) -> bool:
    """Merge what an attempt keeps for the next ones (an adapter's ``Outgoing.save``) into the
    delivery; ``attempt`` fences out a worker whose lease was taken over."""
    status = await conn.execute(
        "UPDATE deliveries SET progress = progress || $3::jsonb, updated_at = clock_timestamp()"
        " WHERE target_id = $1 AND attempts = $2 AND state = 'in_flight'",
        target_id, attempt, progress,
    )
    return status.endswith(" 1")


async def pause_account(conn: asyncpg.Connection, account_id: str, until: datetime, reason: str | None = None) -> None:
    """No call to the account's platform before ``until``; ``reason`` says why to the deliveries
    it holds back (:func:`hold_pending`, :func:`known_accounts`)."""
    await conn.execute(
        "UPDATE accounts SET paused_until = greatest(coalesce(paused_until, $2), $2),"
        " paused_reason = coalesce($3, paused_reason), updated_at = now()"
        " WHERE account_id = $1",
        account_id, until, reason,
    )


async def hold_pending(conn: asyncpg.Connection, account_id: str, until: datetime, error_class: str, reason: str,
                       but: str | None = None) -> list[asyncpg.Record]:
    """The account's deliveries (``but`` one) that were to go before ``until``: they wait for it
    now, and say why (returned, for their post.retrying). One already waiting as long says nothing
    again."""
    return await conn.fetch(
        """
        UPDATE deliveries SET next_attempt_at = $2, error_class = $3, reason = $4, updated_at = clock_timestamp()
        WHERE account_id = $1 AND state = 'pending' AND next_attempt_at < $2 AND target_id IS DISTINCT FROM $5
        RETURNING target_id, post_id, account_id, platform, correlation_id, attempts, next_attempt_at
        """,
        account_id, until, error_class, reason, but,
    )


async def account_needs_reconnect(conn: asyncpg.Connection, account_id: str, reason: str) -> bool:
    status = await conn.execute(
        "UPDATE accounts SET status = 'needs_reconnect', status_reason = $2, updated_at = now()"
        " WHERE account_id = $1 AND status = 'active'",
        account_id, reason,
    )
    return status.endswith(" 1")


async def known_accounts(conn: asyncpg.Connection, account_ids: list[str]) -> dict[str, tuple[datetime, str] | None]:
    """Which of these accounts Siar still holds (whatever their status), each with its pause if
    it is paused now (until when, and why), in one look at the table."""
    rows = await conn.fetch(
        "SELECT account_id, paused_until, coalesce(paused_reason, 'the platform asked Siar to wait') AS reason,"
        " paused_until > clock_timestamp() AS paused"
        " FROM accounts WHERE account_id = ANY($1::text[])",
        account_ids,
    )
    return {r["account_id"]: (r["paused_until"], r["reason"]) if r["paused"] else None for r in rows}


async def get_delivery(conn: asyncpg.Connection, target_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM deliveries WHERE target_id = $1", target_id)


async def upsert_account(conn: asyncpg.Connection, **a) -> tuple[asyncpg.Record, bool]:
    """The account connected (or connected again). Its token counts as issued now
    (``token_refreshed_at``), which with its expiry gives the lifetime the refresher goes by;
    ``token_expiry_assumed``: the expiry is the platform's documented lifetime, not its word."""
    row = await conn.fetchrow(
        """
        INSERT INTO accounts (account_id, platform, handle, display_name, base_url, credentials, settings, limits,
                              rate_limit, rate_window_seconds, token_expires_at, token_expiry_assumed,
                              token_refreshed_at, refresh_lease_until)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, clock_timestamp(), NULL)
        ON CONFLICT (platform, base_url, handle) DO UPDATE SET
            display_name = EXCLUDED.display_name, credentials = EXCLUDED.credentials,
            settings = EXCLUDED.settings, limits = EXCLUDED.limits,
            rate_limit = EXCLUDED.rate_limit, rate_window_seconds = EXCLUDED.rate_window_seconds,
            token_expires_at = EXCLUDED.token_expires_at, token_expiry_assumed = EXCLUDED.token_expiry_assumed,
            token_refreshed_at = EXCLUDED.token_refreshed_at, refresh_lease_until = NULL,
            status = 'active', status_reason = NULL, paused_until = NULL, updated_at = now()
        RETURNING *, (xmax = 0) AS created
        """,
        a["account_id"], a["platform"], a["handle"], a["display_name"], a["base_url"],
        a["credentials"], a["settings"], a["limits"], a.get("rate_limit"), a.get("rate_window_seconds"),
        a.get("token_expires_at"), bool(a.get("token_expiry_assumed")),
    )
    return row, row["created"]


async def list_accounts(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM accounts ORDER BY platform, handle")


async def get_account(conn: asyncpg.Connection, account_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM accounts WHERE account_id = $1", account_id)

"""Refreshing access tokens ahead of expiry, and watching how long every account has left.

Platforms whose tokens expire (X 2 h, Bluesky 2 h, YouTube 1 h, TikTok, Threads/Instagram 60 d,
LinkedIn 60 d; shared/platforms.md) get a new token ``refresh_ahead`` before the old one ends.
An adapter that can refresh implements ``refresh(client, account) -> Refreshed``. A refresh the
platform refuses means a person must connect the account again: the account is marked, its
pending deliveries fail with that reason, and account.needs_reconnect is emitted."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import httpx
import structlog
from siar_contracts import AccountNeedsReconnect, AccountUpdated, ErrorClass

from . import store
from .accounts import gives_insights
from .adapters import ADAPTERS, Account, PlatformError
from .delivery import SCHEMA, event, failed_event
from .metrics import PublisherMetrics
from .redact import credential_values, redact, redact_text
from .vault import Vault

log = structlog.get_logger("siar.publisher.tokens")

CHANNEL = "publisher_tokens"


def seconds_until_next_sql(ahead: timedelta) -> str:
    seconds = ahead.total_seconds()
    return (
        f"SELECT extract(epoch FROM min(greatest(token_expires_at - make_interval(secs => {seconds}),"
        " coalesce(refresh_lease_until, '-infinity'))) - clock_timestamp())::float8"
        " FROM accounts WHERE status = 'active' AND token_expires_at IS NOT NULL"
    )


class TokenRefresher:
    def __init__(self, client: httpx.AsyncClient, vault: Vault, metrics: PublisherMetrics,
                 ahead: timedelta, on_committed) -> None:
        self.client = client
        self.vault = vault
        self.metrics = metrics
        self.ahead = ahead
        self.on_committed = on_committed

    async def claim(self, conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
        """Refresh, inside the claim's transaction, the accounts whose tokens end soon.

        The platform call happens under the account's row lock: a refresh token is often
        single-use, so two replicas must never refresh one account at the same time."""
        rows = await conn.fetch(
            """
            SELECT * FROM accounts
            WHERE status = 'active' AND token_expires_at IS NOT NULL
              AND token_expires_at - make_interval(secs => $1) <= clock_timestamp()
              AND (refresh_lease_until IS NULL OR refresh_lease_until <= clock_timestamp())
            ORDER BY token_expires_at LIMIT $2
            FOR UPDATE SKIP LOCKED
            """,
            self.ahead.total_seconds(),
            limit,
        )
        for row in rows:
            await self._refresh(conn, row)
        await self.observe(conn)
        return rows

    async def refresh_now(self, pool: asyncpg.Pool, account_id: str) -> bool:
        """Refresh one account's token at once (a publish call found it expired). True when the
        account has a fresh token afterwards."""
        async with pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT * FROM accounts WHERE account_id = $1 FOR UPDATE", account_id)
            if row is None or row["status"] != "active":
                return False
            before = row["token_expires_at"]
            await self._refresh(conn, row)
            after = await conn.fetchrow("SELECT status, token_expires_at FROM accounts WHERE account_id = $1", account_id)
        return after["status"] == "active" and after["token_expires_at"] != before

    async def _refresh(self, conn: asyncpg.Connection, row: asyncpg.Record) -> None:
        adapter = ADAPTERS.get(row["platform"])
        refresh = getattr(adapter, "refresh", None)
        if refresh is None:
            # This platform cannot renew tokens: once the token has ended, a person must connect
            # the account again; until then, look again at the moment it ends.
            expired = await conn.fetchval("SELECT $1 <= clock_timestamp()", row["token_expires_at"])
            if expired:
                await self._needs_reconnect(conn, row, "the access token has expired; connect the account again")
            else:
                await conn.execute(
                    "UPDATE accounts SET refresh_lease_until = token_expires_at WHERE account_id = $1",
                    row["account_id"],
                )
            return
        account = Account(
            account_id=row["account_id"], platform=row["platform"], handle=row["handle"], base_url=row["base_url"],
            credentials=self.vault.open(row["credentials"]), settings=row["settings"], limits=row["limits"],
        )
        try:
            refreshed = await refresh(self.client, account)
        except PlatformError as exc:
            # The platform's words may quote the refresh call's URL or echo a token back.
            secrets = credential_values(account.credentials)
            if exc.error_class in (ErrorClass.AUTH_REVOKED, ErrorClass.PERMISSION_DENIED, ErrorClass.AUTH_EXPIRED):
                await self._needs_reconnect(conn, row, redact_text(f"the token could not be renewed: {exc.reason}",
                                                                   secrets))
            else:
                # Try again shortly (or when a rate-limited platform said); the token is still
                # valid for a while.
                await conn.execute(
                    "UPDATE accounts SET refresh_lease_until = greatest(clock_timestamp() + interval '1 minute',"
                    " coalesce($2::timestamptz, '-infinity')) WHERE account_id = $1",
                    row["account_id"], exc.retry_at,
                )
                log.warning("token refresh failed; will retry", account_id=row["account_id"],
                            detail=redact(exc.detail, secrets))
            self.metrics.token_refreshes.labels(row["platform"], "failed").inc()
            return
        updated = await conn.fetchrow(
            """
            UPDATE accounts SET credentials = $2, token_expires_at = $3, refresh_lease_until = NULL, updated_at = now()
            WHERE account_id = $1 RETURNING *
            """,
            row["account_id"],
            self.vault.seal(refreshed.credentials),
            refreshed.expires_at,
        )
        await store_event(conn, AccountUpdated(
            account_id=updated["account_id"], platform=updated["platform"], handle=updated["handle"],
            display_name=updated["display_name"], status=updated["status"], limits=updated["limits"],
            insights=gives_insights(updated["platform"], updated["settings"]),
        ), updated["account_id"])
        self.metrics.token_refreshes.labels(row["platform"], "ok").inc()
        log.info("token refreshed", account_id=row["account_id"], expires_at=refreshed.expires_at.isoformat())

    async def _needs_reconnect(self, conn: asyncpg.Connection, row: asyncpg.Record, reason: str) -> None:
        await store.account_needs_reconnect(conn, row["account_id"], reason)
        events = [event(AccountNeedsReconnect(account_id=row["account_id"], platform=row["platform"], reason=reason),
                        str(uuid.uuid4()), f"account/{row['account_id']}")]
        for other in await store.fail_pending_of_account(conn, row["account_id"], ErrorClass.AUTH_REVOKED.value, reason):
            events.append(failed_event(other, ErrorClass.AUTH_REVOKED, reason, None, other["attempts"]))
        from siar_runtime.outbox import write_events

        await write_events(conn, SCHEMA, events)
        log.warning("account needs reconnecting", account_id=row["account_id"], reason=reason)

    async def observe(self, conn: asyncpg.Connection) -> None:
        """Export the accounts by status and the shortest time to token expiry per platform."""
        counts = await conn.fetch("SELECT platform, status, count(*) AS n FROM accounts GROUP BY 1, 2")
        self.metrics.accounts.clear()
        for r in counts:
            self.metrics.accounts.labels(r["platform"], r["status"]).set(r["n"])
        expiry = await conn.fetch(
            "SELECT platform, min(extract(epoch FROM token_expires_at - clock_timestamp()))::float8 AS s"
            " FROM accounts WHERE status = 'active' AND token_expires_at IS NOT NULL GROUP BY 1"
        )
        self.metrics.token_expiry.clear()
        for r in expiry:
            self.metrics.token_expiry.labels(r["platform"]).set(r["s"])


async def store_event(conn: asyncpg.Connection, payload, account_id: str) -> None:
    from siar_runtime.outbox import write_events

    await write_events(conn, SCHEMA, [event(payload, str(uuid.uuid4()), f"account/{account_id}")])

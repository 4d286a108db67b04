"""Refreshing access tokens ahead of expiry, and watching how long every account has left.

Platforms whose tokens expire (X 2 h, Bluesky 2 h, YouTube 1 h, TikTok, Threads/Instagram 60 d,
LinkedIn 60 d; shared/platforms.md) get a new token before the old one ends: a fifth of the
token's lifetime ahead (from its connection or last renewal to its expiry), at most 14 days and
at least ``ahead`` (SIAR_TOKEN_REFRESH_AHEAD_SECONDS). A 60-day token is renewed 12 days early,
so an outage or a rate limit on that day leaves days of retries (an Instagram or Threads token
that ended can never be renewed); a 1-hour one ``ahead`` early. A token whose expiry is only
assumed (accounts.LONG_LIVED) is renewed a day after its connection, which tells the real one.

An adapter that can refresh implements ``refresh(client, account) -> Refreshed``. A refresh the
platform refuses means a person must connect the account again: the account is marked, its
pending deliveries fail with that reason, and account.needs_reconnect is emitted — but only once
the token is within ``ahead`` of its end; refused earlier, the refresh is asked once more then.

Each account's refresh is a savepoint of its own: an account whose refresh goes wrong unexpectedly
is logged and tried again later, and never undoes the renewed (often single-use) refresh tokens of
the others in the batch."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import httpx
import structlog
from siar_contracts import AccountNeedsReconnect, AccountUpdated, ErrorClass

from . import store
from .accounts import LONG_LIVED, gives_insights
from .adapters import ADAPTERS, Account, PlatformError
from .delivery import SCHEMA, event, failed_event
from .metrics import PublisherMetrics
from .redact import credential_values, redact, redact_text
from .vault import Vault

log = structlog.get_logger("siar.publisher.tokens")

CHANNEL = "publisher_tokens"

LIFETIME_SHARE = 0.2  # of a token's lifetime: how early it is renewed ...
MOST_AHEAD = timedelta(days=14)  # ... at most (and at least the refresher's ``ahead``)
ASSUMED_RENEWAL = timedelta(hours=25)  # after its connection, a token whose expiry is assumed
UNEXPECTED_RETRY = timedelta(minutes=5)  # after a refresh that failed unexpectedly


def refresh_due_sql(ahead: timedelta) -> str:
    """When an account's token is due for renewal (an SQL expression on ``accounts``)."""
    return (
        f"least(token_expires_at - greatest(make_interval(secs => {ahead.total_seconds()}),"
        f" least((token_expires_at - coalesce(token_refreshed_at, token_expires_at)) * {LIFETIME_SHARE},"
        f" make_interval(secs => {MOST_AHEAD.total_seconds()}))),"
        f" CASE WHEN token_expiry_assumed"
        f" THEN token_refreshed_at + make_interval(secs => {ASSUMED_RENEWAL.total_seconds()}) END)"
    )


def seconds_until_next_sql(ahead: timedelta) -> str:
    return (
        f"SELECT extract(epoch FROM min(greatest({refresh_due_sql(ahead)},"
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
            f"""
            SELECT * FROM accounts
            WHERE status = 'active' AND token_expires_at IS NOT NULL
              AND {refresh_due_sql(self.ahead)} <= clock_timestamp()
              AND (refresh_lease_until IS NULL OR refresh_lease_until <= clock_timestamp())
            ORDER BY token_expires_at LIMIT $1
            FOR UPDATE SKIP LOCKED
            """,
            limit,
        )
        for row in rows:
            await self._refresh_apart(conn, row)
        await self.observe(conn)
        return rows

    async def _refresh_apart(self, conn: asyncpg.Connection, row: asyncpg.Record) -> None:
        """One account's refresh in a savepoint of its own. Whatever goes wrong unexpectedly (an
        answer without a field Siar reads, a body that is not JSON) is logged, counted and tried
        again later; it never rolls back what the others of the batch wrote (a single-use refresh
        token that X or TikTok renewed for another account, lost, would need a person)."""
        try:
            async with conn.transaction():
                await self._refresh(conn, row, early=True)
        except Exception as exc:  # one account's failure is that account's alone
            detail = redact_text(f"{type(exc).__name__}: {exc}", self._secrets(row))
            self.metrics.token_refreshes.labels(row["platform"], "error").inc()
            log.error("token refresh failed unexpectedly; will retry", account_id=row["account_id"],
                      platform=row["platform"], detail=detail)  # fmt: skip
            async with conn.transaction():
                await conn.execute(
                    "UPDATE accounts SET refresh_lease_until = clock_timestamp() + $2::interval WHERE account_id = $1",
                    row["account_id"], UNEXPECTED_RETRY,
                )

    def _secrets(self, row: asyncpg.Record) -> list[str]:
        try:
            return list(credential_values(self.vault.open(row["credentials"])))
        except Exception:  # credentials that cannot be opened leak nothing either
            return []

    async def refresh_now(self, pool: asyncpg.Pool, account_id: str) -> bool:
        """Refresh one account's token at once (a publish call found it expired). True when the
        account has a fresh token afterwards."""
        async with pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT * FROM accounts WHERE account_id = $1 FOR UPDATE", account_id)
            if row is None or row["status"] != "active":
                return False
            before = row["token_expires_at"]
            await self._refresh(conn, row, early=False)
            after = await conn.fetchrow("SELECT status, token_expires_at FROM accounts WHERE account_id = $1", account_id)
        return after["status"] == "active" and after["token_expires_at"] != before

    async def _refresh(self, conn: asyncpg.Connection, row: asyncpg.Record, *, early: bool) -> None:
        """``early``: renewing ahead of time (the refresher's pass), when a refusal waits for the
        token's last ``ahead`` before a person is asked to connect the account again; not so
        when a publish found the token dead (refresh_now)."""
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
                # Refused while the token still works for more than ``ahead`` (a token Siar cannot
                # renew, such as a Facebook Login one, or a refusal of an early renewal): the
                # account keeps posting until then and is asked once more at that moment, as
                # before renewing early (SiarAccountTokenExpiringSoon warns meanwhile).
                until = early and await conn.fetchval(
                    "UPDATE accounts SET refresh_lease_until = token_expires_at - make_interval(secs => $2)"
                    " WHERE account_id = $1 AND token_expires_at - make_interval(secs => $2) > clock_timestamp()"
                    " RETURNING refresh_lease_until",
                    row["account_id"], self.ahead.total_seconds(),
                )
                if until:
                    log.warning("token refresh refused; will ask again before the token ends", account_id=row["account_id"],
                                until=until.isoformat(), detail=redact(exc.detail, secrets))
                else:
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
        # An answer without the new token's lifetime: a long-lived one lasts its documented time
        # from now (left unknown, it would never be renewed again).
        updated = await conn.fetchrow(
            """
            UPDATE accounts SET credentials = $2, token_expires_at = coalesce($3::timestamptz, clock_timestamp() + $4::interval),
                   token_refreshed_at = clock_timestamp(), token_expiry_assumed = false, refresh_lease_until = NULL,
                   updated_at = now()
            WHERE account_id = $1 RETURNING *
            """,
            row["account_id"],
            self.vault.seal(refreshed.credentials),
            refreshed.expires_at,
            LONG_LIVED.get(row["platform"]),
        )
        await store_event(conn, AccountUpdated(
            account_id=updated["account_id"], platform=updated["platform"], handle=updated["handle"],
            display_name=updated["display_name"], status=updated["status"], limits=updated["limits"],
            insights=gives_insights(updated["platform"], updated["settings"]),
        ), updated["account_id"])
        self.metrics.token_refreshes.labels(row["platform"], "ok").inc()
        expires_at = updated["token_expires_at"]
        log.info("token refreshed", account_id=row["account_id"], expires_at=expires_at and expires_at.isoformat())

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

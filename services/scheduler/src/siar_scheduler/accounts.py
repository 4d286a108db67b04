"""The scheduler's read model of platform accounts, kept from the publisher's account.* events."""

from __future__ import annotations

import asyncpg
from siar_contracts import AccountNeedsReconnect, AccountRegistered

from .schemas import AccountOut


async def upsert(conn: asyncpg.Connection, account: AccountRegistered) -> None:
    await conn.execute(
        """
        INSERT INTO accounts (account_id, platform, handle, display_name, status, limits, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, now())
        ON CONFLICT (account_id) DO UPDATE SET
            platform = EXCLUDED.platform, handle = EXCLUDED.handle,
            display_name = EXCLUDED.display_name, status = EXCLUDED.status,
            status_reason = CASE WHEN EXCLUDED.status = 'active' THEN NULL ELSE accounts.status_reason END,
            limits = EXCLUDED.limits, updated_at = now()
        """,
        account.account_id,
        account.platform,
        account.handle,
        account.display_name,
        account.status,
        account.limits,
    )


async def needs_reconnect(conn: asyncpg.Connection, event: AccountNeedsReconnect) -> None:
    await conn.execute(
        "UPDATE accounts SET status = 'needs_reconnect', status_reason = $2, updated_at = now()"
        " WHERE account_id = $1",
        event.account_id,
        event.reason,
    )


def _out(row: asyncpg.Record) -> AccountOut:
    return AccountOut(
        account_id=row["account_id"],
        platform=row["platform"],
        handle=row["handle"],
        display_name=row["display_name"],
        status=row["status"],
        status_reason=row["status_reason"],
        limits=row["limits"],
    )


async def list_accounts(conn: asyncpg.Connection) -> list[AccountOut]:
    rows = await conn.fetch("SELECT * FROM accounts ORDER BY platform, handle")
    return [_out(r) for r in rows]


async def find(conn: asyncpg.Connection, account_ids: list[str]) -> dict[str, AccountOut]:
    rows = await conn.fetch("SELECT * FROM accounts WHERE account_id = ANY($1::text[])", account_ids)
    return {r["account_id"]: _out(r) for r in rows}

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


class Ambiguous(ValueError):
    """A ref that names more than one account."""


class AccountIndex:
    """Finds an account by id, ``platform:handle``, handle, or a platform with one account."""

    def __init__(self, known: list[AccountOut]) -> None:
        self.by_id = {a.account_id: a for a in known}
        self.known = known

    @staticmethod
    def _handle(h: str) -> str:
        return h.strip().lstrip("@").lower()

    def find(self, ref: str) -> AccountOut:
        ref = ref.strip()
        if ref in self.by_id:
            return self.by_id[ref]
        platform, colon, handle = ref.partition(":")
        if colon and handle:
            hits = [a for a in self.known if a.platform == platform.lower() and self._handle(a.handle) == self._handle(handle)]
        else:
            hits = [a for a in self.known if self._handle(a.handle) == self._handle(ref)]
            if not hits:
                hits = [a for a in self.known if a.platform == ref.lower()]
                if len(hits) > 1:
                    raise Ambiguous(f"{ref!r} names {len(hits)} accounts; write platform:handle "
                                     f"({', '.join(f'{a.platform}:{a.handle}' for a in hits)})")
        if not hits:
            raise ValueError(f"{ref!r} is not a connected account (see GET /v1/accounts)")
        if len(hits) > 1:
            raise Ambiguous(f"{ref!r} names {len(hits)} accounts; write platform:handle")
        return hits[0]


async def ids_for(conn: asyncpg.Connection, refs: list[str]) -> list[str]:
    """Account ids for what a person wrote — an id, ``platform:handle``, a handle, or a platform
    with one account — as the CLI and CSV import take them. A ref that names none stays as
    written (the caller's check then says it is not a connected account); one that names
    several raises Ambiguous, saying how to name one."""
    found = await find(conn, refs)
    if len(found) == len(refs):
        return refs
    index = AccountIndex(await list_accounts(conn))
    ids = []
    for ref in refs:
        try:
            ids.append(index.find(ref).account_id)
        except Ambiguous:
            raise
        except ValueError:
            ids.append(ref)
    return ids

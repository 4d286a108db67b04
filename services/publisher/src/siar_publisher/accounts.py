"""Connecting platform accounts: verify with the platform, seal the credentials, announce it."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
from siar_contracts import AccountRegistered, AccountUpdated
from siar_runtime.outbox import write_events
from siar_runtime.problems import TYPE_BASE, Problem

from . import store
from .adapters import ADAPTERS, Account, PlatformError, Verified
from .delivery import SCHEMA, event
from .ratelimits import rate_for
from .schemas import AccountCreate, AccountOut
from .vault import Vault


def to_out(row: asyncpg.Record) -> AccountOut:
    rate = rate_for(row["platform"], row["rate_limit"], row["rate_window_seconds"])
    values = {k: row[k] for k in AccountOut.model_fields if k not in ("rate_limit", "rate_window_seconds")}
    return AccountOut(**values, rate_limit=rate.limit, rate_window_seconds=rate.window_seconds)


async def register(pool: asyncpg.Pool, client: httpx.AsyncClient, vault: Vault, req: AccountCreate) -> tuple[AccountOut, bool]:
    adapter = ADAPTERS.get(req.platform)
    if adapter is None:
        raise Problem(422, "Platform not supported", f"Siar cannot post to {req.platform!r} yet; "
                      f"supported: {', '.join(sorted(ADAPTERS))}", type_=TYPE_BASE + "unsupported-platform")
    missing = [f"credentials.{k}" for k in adapter.required_credentials if not req.credentials.get(k)]
    missing += [f"settings.{k}" for k in adapter.required_settings if not req.settings.get(k)]
    if missing:
        raise Problem(422, "Missing account details", f"{req.platform} needs {', '.join(missing)}",
                      type_=TYPE_BASE + "validation", fields=missing)
    account_id = str(uuid.uuid4())
    candidate = Account(account_id=account_id, platform=req.platform, handle=req.handle or "",
                        base_url=req.base_url.rstrip("/"), credentials=req.credentials, settings=req.settings)
    if req.verify:
        try:
            verified = await adapter.verify(client, candidate)
        except PlatformError as exc:
            raise Problem(422, "Could not connect the account", exc.reason, type_=TYPE_BASE + "account-verification",
                          error_class=exc.error_class.value, platform_detail=exc.detail) from exc
    elif req.handle:
        verified = Verified(handle=req.handle)
    else:
        raise Problem(422, "Missing account details", "give a handle when verify is false",
                      type_=TYPE_BASE + "validation", fields=["handle"])
    async with pool.acquire() as conn, conn.transaction():
        row, created = await store.upsert_account(
            conn, account_id=account_id, platform=req.platform, handle=verified.handle,
            display_name=verified.display_name, base_url=candidate.base_url,
            credentials=vault.seal(req.credentials), settings=req.settings, limits=verified.limits,
            rate_limit=req.rate_limit.limit if req.rate_limit else None,
            rate_window_seconds=req.rate_limit.window_seconds if req.rate_limit else None,
            token_expires_at=verified.token_expires_at,
        )
        model = AccountRegistered if created else AccountUpdated
        await write_events(conn, SCHEMA, [event(
            model(account_id=row["account_id"], platform=row["platform"], handle=row["handle"],
                  display_name=row["display_name"], status=row["status"], limits=row["limits"]),
            str(uuid.uuid4()),
            f"account/{row['account_id']}",
        )])
    return to_out(row), created

"""Connecting platform accounts: verify with the platform, seal the credentials, announce it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import structlog
from siar_contracts import AccountRegistered, AccountUpdated, ErrorClass
from siar_runtime import audit as audit_log
from siar_runtime.auth import Caller
from siar_runtime.outbox import write_events
from siar_runtime.problems import TYPE_BASE, Problem

from . import store
from .adapters import ADAPTERS, Account, Adapter, PlatformError, Verified
from .delivery import SCHEMA, event, platform_name
from .ratelimits import rate_for
from .redact import credential_values, redact, redact_text
from .schemas import AccountCreate, AccountOut
from .vault import Vault

# What a person connecting an account pastes, for "did not accept the …", and how to get a new one.
_CREDENTIAL = {
    "telegram": ("bot token", "it is wrong or was revoked; paste the token @BotFather gives"),
    "bluesky": ("identifier and app password", "the app password is wrong or was revoked; create a new "
                "app password in Bluesky's settings and paste it"),
}  # fmt: skip
_ACCESS_TOKEN = ("access token", "it has expired or was revoked; paste a new one")

log = structlog.get_logger("siar.publisher.accounts")

# Documented lifetimes of long-lived tokens whose platform may not say when they end (shared/
# platforms.md): Threads' debug_token answers only for an app tester's token, and a failed
# debug_token leaves an Instagram token's expiry unknown too. Such a token counts as issued at
# its connection (token_expiry_assumed); the refresher renews it a day later (Meta renews a token
# once it is 24 hours old) and learns the real expiry from the answer (expires_in).
LONG_LIVED = {"instagram": timedelta(days=60), "threads": timedelta(days=60)}


def assumed_lifetime(account: Account) -> timedelta | None:
    """The lifetime to assume for ``account``'s token when the platform did not say when it
    ends: only for a token Siar can renew (an Instagram Login token, not a Facebook Login one)."""
    lifetime = LONG_LIVED.get(account.platform)
    adapter = ADAPTERS.get(account.platform)
    if lifetime is None or getattr(adapter, "refresh", None) is None:
        return None
    can_refresh = getattr(adapter, "can_refresh", None)
    return lifetime if can_refresh is None or can_refresh(account) else None


def connect_reason(exc: PlatformError, adapter: Adapter, account: Account) -> str:
    """What to tell the person connecting ``account`` when verifying it failed with ``exc``.

    An adapter's ``reason`` is written for a delivery ("Siar will try again", "Siar renews it",
    "refused the post"), none of which happens to a connection attempt: nothing retries it and
    there is no post. So the wording here follows the error class and says what to fix; the
    class and the platform's own words stay in ``error_class`` and ``platform_detail``."""
    if exc.connect_reason:
        return exc.connect_reason
    name = platform_name(account.platform)
    said = exc.detail or exc.reason
    klass = exc.error_class
    unanswered = klass in (ErrorClass.TRANSIENT, ErrorClass.OUTCOME_UNKNOWN)
    cause = _transport_cause(exc) if unanswered else None
    if cause is not None:
        if isinstance(cause, httpx.TimeoutException) and not isinstance(cause, httpx.ConnectTimeout):
            return f"{name} at {account.base_url} did not answer in time: check the address and try again"
        return f"Siar could not reach {name} at {account.base_url}: check the address and try again"
    if unanswered or klass == ErrorClass.INTERNAL:
        status = f" (HTTP {exc.status})" if exc.status else ""
        return f"{name} had a problem while Siar checked the account{status}: try connecting it again in a few minutes"
    if klass in (ErrorClass.RATE_LIMITED, ErrorClass.QUOTA_EXHAUSTED):
        when = (f"after {exc.retry_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if exc.retry_at
                else "in a few minutes")  # fmt: skip
        return f"{name} asked Siar to slow down for this account: try connecting it again {when}"
    if klass in (ErrorClass.AUTH_EXPIRED, ErrorClass.AUTH_REVOKED):
        credential, remedy = _CREDENTIAL.get(account.platform, _ACCESS_TOKEN)
        return f"{name} did not accept the {credential}: {remedy}"
    if klass == ErrorClass.PERMISSION_DENIED:
        # Adapters word these as the account's state and what to change, which is what a person
        # connecting it needs (the bot is not an administrator, a scope is missing, no channel).
        return exc.reason
    if klass == ErrorClass.TARGET_GONE:
        settings = ", ".join(f"settings.{k}" for k in adapter.required_settings)
        check = f"{settings} and the address {account.base_url}" if settings else f"the address {account.base_url}"
        return f"{name} cannot find the account Siar was asked to connect: check {check}"
    if klass == ErrorClass.POLICY_REJECTED:
        return f"{name} has restricted this account under its policies: {said}"
    return f"{name} refused the account settings: {said}"


def gives_insights(platform: str, settings: dict) -> bool:
    """Whether the platform answers insights for this account (an adapter's ``gives_insights``;
    by default yes), announced with the account so the metrics service asks nothing in vain."""
    check = getattr(ADAPTERS.get(platform), "gives_insights", None)
    return True if check is None else bool(check(settings or {}))


def _transport_cause(exc: BaseException) -> httpx.TransportError | None:
    """The failure below HTTP behind ``exc`` (a refused connection, a timeout), if any."""
    seen = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, httpx.TransportError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def to_out(row: asyncpg.Record) -> AccountOut:
    rate = rate_for(row["platform"], row["rate_limit"], row["rate_window_seconds"])
    values = {k: row[k] for k in AccountOut.model_fields if k not in ("rate_limit", "rate_window_seconds")}
    return AccountOut(**values, rate_limit=rate.limit, rate_window_seconds=rate.window_seconds)


async def register(pool: asyncpg.Pool, client: httpx.AsyncClient, vault: Vault, req: AccountCreate, *,
                   actor: Caller) -> tuple[AccountOut, bool]:
    """Verify and store an account (a new one, or new credentials for one already connected),
    announce it, and write who did it to the audit log, all in one transaction."""
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
            # Never the credentials back in the answer (and the logs of whatever relays it): the
            # platform's words may quote a call's URL (Telegram's has the bot token) or echo one.
            secrets = credential_values(req.credentials)
            raise Problem(422, "Could not connect the account",
                          redact_text(connect_reason(exc, adapter, candidate), secrets),
                          type_=TYPE_BASE + "account-verification", error_class=exc.error_class.value,
                          platform_detail=redact(exc.detail, secrets)) from exc
    elif req.handle:
        verified = Verified(handle=req.handle)
    else:
        raise Problem(422, "Missing account details", "give a handle when verify is false",
                      type_=TYPE_BASE + "validation", fields=["handle"])
    expires_at, assumed = verified.token_expires_at, False
    lifetime = assumed_lifetime(candidate) if expires_at is None else None
    if lifetime is not None:
        expires_at, assumed = datetime.now(UTC) + lifetime, True
    async with pool.acquire() as conn, conn.transaction():
        row, created = await store.upsert_account(
            conn, account_id=account_id, platform=req.platform, handle=verified.handle,
            display_name=verified.display_name, base_url=candidate.base_url,
            credentials=vault.seal(verified.credentials or req.credentials), settings=req.settings,
            limits=verified.limits,
            rate_limit=req.rate_limit.limit if req.rate_limit else None,
            rate_window_seconds=req.rate_limit.window_seconds if req.rate_limit else None,
            token_expires_at=expires_at, token_expiry_assumed=assumed,
        )
        model = AccountRegistered if created else AccountUpdated
        await write_events(conn, SCHEMA, [event(
            model(account_id=row["account_id"], platform=row["platform"], handle=row["handle"],
                  display_name=row["display_name"], status=row["status"], limits=row["limits"],
                  insights=gives_insights(row["platform"], row["settings"])),
            str(uuid.uuid4()),
            f"account/{row['account_id']}",
        )])
        await audit_log.append(
            conn, actor=actor.actor_id, role=actor.role, action="account.connected" if created else "account.reconnected",
            entity="account", entity_id=row["account_id"],
            details={"platform": row["platform"], "handle": row["handle"], "base_url": row["base_url"],
                     "verified": req.verify},  # never the credentials
        )
    if assumed:
        log.info("token expiry assumed", account_id=row["account_id"], platform=row["platform"],
                 token_expires_at=row["token_expires_at"].isoformat(),
                 reason=f"{platform_name(row['platform'])} did not say when the token ends: Siar assumes "
                 f"{lifetime.days} days from now and renews it a day after connecting, which tells the real expiry")
    return to_out(row), created

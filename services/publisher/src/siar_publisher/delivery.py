"""The delivery state machine: one record per target, at most one attempt in flight, the
outcome and the event announcing it committed together.

Retry policy by error class (shared/platforms.md, cross-platform taxonomy):
- rate_limited / quota_exhausted: the account alone pauses until the time the platform gave;
- transient: exponential backoff with full jitter, up to ``max_attempts``;
- outcome_unknown from a send: the next attempt first asks the adapter to reconcile (look on the
  platform, or rely on its idempotency key); outcome_unknown from reconcile is final and says so;
- auth_revoked / permission_denied: the account needs reconnecting, and its pending targets fail
  with that reason;
- everything else is permanent and fails at once.

Two things are not failures: an attempt's lease is renewed while its platform calls run (a video
upload may take minutes), and an adapter that finds the platform still processing what it sent
(:class:`StillProcessing`: an Instagram Reel's container) has the delivery look again later
without counting an attempt, until the time the adapter gives (24 hours by default)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import structlog
from siar_contracts import (
    AccountNeedsReconnect,
    CloudEvent,
    ErrorClass,
    MediaItem,
    PostFailed,
    PostPublished,
    PostRetrying,
    spec_for_model,
)
from siar_platforms import Content, Media, rules_for, validate
from siar_runtime.batches import Batcher
from siar_runtime.db import Database
from siar_runtime.logging import bind_message
from siar_runtime.outbox import write_events

from . import ratelimits, store
from .adapters import ADAPTERS, Account, Outgoing, PlatformError, Published, reads_limited_apart
from .adapters.base import StillProcessing
from .metrics import PublisherMetrics
from .settings import PublisherSettings
from .vault import Vault

SOURCE = "/siar/publisher"
SCHEMA = "publisher"
log = structlog.get_logger("siar.publisher.delivery")


def event(model, correlation_id: str, subject: str) -> CloudEvent:
    return spec_for_model(type(model)).envelope(model, source=SOURCE, correlation_id=correlation_id, subject=subject)


def platform_name(platform: str) -> str:
    """The platform as people write it (Mastodon, X), for the reasons told to librarians."""
    try:
        return rules_for(platform).display_name
    except ValueError:  # a platform siar_platforms does not know yet
        return platform


def held_reason(platform: str, error_class: ErrorClass, until: datetime) -> str:
    """What a delivery held back by its account's pause tells the librarian."""
    why = ("the account's quota for the day is used up" if error_class == ErrorClass.QUOTA_EXHAUSTED
           else f"{platform_name(platform)} asked Siar to slow down for this account")
    return f"waiting: {why}; it goes out after {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def retrying_event(row, error_class: ErrorClass, reason: str, next_attempt_at: datetime) -> CloudEvent:
    """post.retrying: the delivery is tried (or looked at) again at ``next_attempt_at``."""
    return event(
        PostRetrying(
            post_id=row["post_id"], target_id=row["target_id"], account_id=row["account_id"],
            platform=row["platform"], error_class=error_class, reason=reason, attempt=row["attempts"],
            next_attempt_at=next_attempt_at,
        ),
        row["correlation_id"],
        f"target/{row['target_id']}",
    )


def held_event(row, error_class: ErrorClass, reason: str) -> CloudEvent:
    """post.retrying for a delivery that waits for its account's pause (it may not have been tried
    yet: ``attempt`` is then 0)."""
    return retrying_event(row, error_class, reason, row["next_attempt_at"])


def failed_event(row, error_class: ErrorClass, reason: str, detail: str | None, attempts: int) -> CloudEvent:
    return event(
        PostFailed(
            post_id=row["post_id"], target_id=row["target_id"], account_id=row["account_id"],
            platform=row["platform"], error_class=error_class, reason=reason, detail=detail,
            failed_at=datetime.now(UTC), attempts=attempts,
        ),
        row["correlation_id"],
        f"target/{row['target_id']}",
    )


PROCESSING_WAIT = timedelta(hours=24)
"""How long a delivery waits for a platform's processing when the adapter does not say."""


def processing_reason(platform: str, give_up_at: datetime) -> str:
    """What a delivery that gave up waiting for the platform's processing tells the librarian."""
    return (f"gave up: {platform_name(platform)} was still processing the media at "
            f"{give_up_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC, the longest Siar waits (the platform drops an "
            "unpublished upload then); "
            "check the video (length, format) and schedule the post again")


UNMARKED_PLATFORMS = sorted(p for p, a in ADAPTERS.items() if getattr(a, "idempotent_publish", False))
"""Platforms whose publish is idempotent (a retry cannot post twice), so no call mark is written."""


def content_of(post: Outgoing) -> Content:
    return Content(
        text=post.text,
        media=tuple(
            Media(kind=m.kind, url=m.url, alt_text=m.alt_text, size_bytes=m.size_bytes,
                  duration_seconds=m.duration_seconds, mime_type=m.mime_type)
            for m in post.media
        ),
        title=post.title,
    )


def backoff(attempt: int, base: float, cap: float) -> float:
    """Full jitter: uniform in [base/2, min(cap, base * 2**(attempt-1))]."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(min(base / 2, ceiling), ceiling)


@dataclass
class _Lease:
    """An attempt's lease, renewed in the background while its platform calls run."""

    task: asyncio.Task[None] | None = None
    calling: bool = True  # the attempt is in its platform calls (not yet recording the outcome)
    renewing: bool = False  # a renewal is being written (it ends by itself: never cut a query short)
    lost: bool = False  # another worker took the delivery over

    def stop(self) -> None:
        self.calling = False
        if self.task is not None and not self.renewing:
            self.task.cancel()


@dataclass
class _Success:
    """A published attempt waiting to be recorded with others (see ``_record_successes``)."""

    row: Any
    published: Published
    at: datetime
    recorded: bool = False

    def event(self) -> CloudEvent:
        row = self.row
        return event(
            PostPublished(
                post_id=row["post_id"], target_id=row["target_id"], account_id=row["account_id"],
                platform=row["platform"], platform_post_id=self.published.platform_post_id, url=self.published.url,
                published_at=self.at, attempts=row["attempts"], notice=self.published.notice,
            ),
            row["correlation_id"],
            f"target/{row['target_id']}",
        )


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        client: httpx.AsyncClient,
        vault: Vault,
        metrics: PublisherMetrics,
        settings: PublisherSettings,
        on_committed,
    ) -> None:
        self.db = db
        self.client = client
        self.vault = vault
        self.metrics = metrics
        self.settings = settings
        self.on_committed = on_committed  # wakes the outbox relay and the due runner
        self.refresh_now = None  # set by the wiring: async (account_id) -> bool
        self.in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # Successes are recorded together: a burst finishes dozens of calls within milliseconds,
        # and those that finish while one batch is being written go in the next.
        self._successes: Batcher[_Success] = Batcher(self._record_successes, max_size=settings.concurrency,
                                                     name="published")

    # --- claiming (called by the DueRunner inside its transaction) ---

    async def claim(self, conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
        free = self.settings.concurrency - self.in_flight
        if free <= 0:
            return []
        rows = await store.claim(conn, min(limit, free), self.settings.lease_seconds, UNMARKED_PLATFORMS)
        if not rows:
            return []
        admission = await ratelimits.admit(conn, rows)
        if admission.deferred:
            await store.defer(conn, [(row["target_id"], at) for row, at in admission.deferred])
            for row, _ in admission.deferred:
                self.metrics.rate_deferrals.labels(row["platform"]).inc()
        self.in_flight += len(admission.granted)
        self.metrics.in_flight.set(self.in_flight)
        return admission.granted

    def start_attempts(self, rows) -> None:
        for row in rows:
            task = asyncio.create_task(self._attempt_guarded(row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- one attempt ---

    async def _commit(self, write, *, wake: bool = True) -> bool:
        """Record an outcome in one transaction, riding out a database blip (restart, terminated
        backend) for most of the lease: the platform call already happened, and losing its
        outcome would turn a known result into an unknown one."""
        deadline = asyncio.get_running_loop().time() + self.settings.lease_seconds * 0.6
        pause = 0.1
        while True:
            try:
                async with self.db.pool.acquire() as conn, conn.transaction():
                    done = await write(conn)
                if done and wake:
                    self.on_committed()
                return done
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                    asyncpg.exceptions.ConnectionDoesNotExistError,
                    asyncpg.exceptions.OperatorInterventionError) as exc:  # terminated, shutting down
                if asyncio.get_running_loop().time() + pause > deadline:
                    raise
                log.warning("database unavailable while recording an outcome; retrying", error=str(exc))
                await asyncio.sleep(pause)
                pause = min(2.0, pause * 2)

    async def _save_progress(self, row, values: dict) -> None:
        """Keep what an adapter needs for the next attempts (upload session, container, publish
        id); fenced by the attempt number like every other write."""
        await self._commit(lambda conn: store.save_progress(conn, row["target_id"], row["attempts"], values),
                           wake=False)

    def _keep_lease(self, row) -> _Lease:
        """Renew this attempt's lease every third of it until ``stop()``, fenced by the attempt
        number as its outcome will be. A delivery taken over meanwhile (its lease ran out while
        the database was away, say) is left to its new owner: the renewals stop, and so do this
        attempt's platform calls, whose outcome could no longer be recorded and which could
        otherwise send the same upload alongside the new owner."""
        lease = _Lease()
        attempt = asyncio.current_task()
        lease.task = asyncio.create_task(self._renew_lease(row, lease, attempt))
        self._tasks.add(lease.task)
        lease.task.add_done_callback(self._tasks.discard)
        return lease

    async def _renew_lease(self, row, lease: _Lease, attempt: asyncio.Task | None) -> None:
        seconds = self.settings.lease_seconds
        while True:
            await asyncio.sleep(seconds / 3)
            lease.renewing = True
            try:
                async with self.db.pool.acquire() as conn:
                    kept = await store.renew_lease(conn, row["target_id"], row["attempts"], seconds)
            except Exception as exc:  # the database is away: two thirds of the lease are left
                log.warning("could not renew a delivery's lease; trying again", error=f"{type(exc).__name__}: {exc}")
                kept = True
            finally:
                lease.renewing = False
            if not lease.calling:
                return  # the attempt ended meanwhile
            if kept:
                continue
            lease.lost = True
            self.metrics.leases_lost.labels(row["platform"]).inc()
            log.warning("lease lost: another worker took this delivery over; this attempt stops")
            if lease.calling and attempt is not None:
                attempt.cancel()
            return

    async def _attempt_guarded(self, row) -> None:
        try:
            await self.attempt(row)
        except Exception:
            # The outcome could not be recorded (database gone?). The lease expires and another
            # pass reclaims the delivery as "recovering", which reconciles before sending again.
            log.exception("could not record a delivery outcome; its lease will expire and be reclaimed")
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.set(self.in_flight)
            self.on_committed()

    async def attempt(self, row) -> None:
        bind_message(correlation_id=row["correlation_id"], post_id=row["post_id"], target_id=row["target_id"],
                     account_id=row["account_id"], attempt=row["attempts"])
        platform = row["platform"]
        adapter = ADAPTERS.get(platform)
        if row["account_status"] != "active":
            await self._fail(row, ErrorClass.AUTH_REVOKED,
                             f"the account needs reconnecting: {row['account_reason'] or 'reconnect it'}", None)
            return
        if adapter is None:
            await self._fail(row, ErrorClass.INVALID_CONTENT, f"Siar cannot post to {platform} yet", None)
            return
        if row["attempts"] > self.settings.max_attempts:
            # Only reclaims get here (a failed attempt stops at max_attempts): the publisher died
            # during each of the last attempts, perhaps on this very post (its media larger than
            # the memory it has). Stop, rather than take every replica down again and again.
            await self._fail(row, ErrorClass.OUTCOME_UNKNOWN if row["recovering"] else ErrorClass.INTERNAL,
                             f"gave up after {row['attempts'] - 1} attempts that never finished (the publisher "
                             "stopped during each: out of memory on a large media file?); check the account "
                             "before sending it again", None)
            return
        account = Account(
            account_id=row["account_id"], platform=platform, handle=row["handle"], base_url=row["base_url"],
            credentials=self.vault.open(row["credentials"]), settings=row["settings"], limits=row["limits"],
        )
        post = Outgoing(
            target_id=row["target_id"], text=row["text"],
            media=tuple(MediaItem(**m) for m in row["media"]), title=row["title"],
            idempotency_key=f"siar-{row['target_id']}", first_attempt_at=row["first_attempt_at"],
            progress=row["progress"] or {},
            checkpoint=lambda values: self._save_progress(row, values),
        )
        # Checked again against the account's current limits (an instance may have lowered them
        # since the post was accepted): refusing here is clearer than the platform's 422.
        violations = validate(platform, content_of(post), limits=account.limits or None)
        if violations:
            await self._fail(row, ErrorClass.INVALID_CONTENT, "; ".join(v.message for v in violations), None)
            return
        started = time.perf_counter()
        published: Published | None = None
        unknown: PlatformError | None = None  # reconcile could not tell: final
        failure: PlatformError | None = None
        outcome = ""  # the attempts metric's outcome for a failure
        lease = self._keep_lease(row)
        checking = False  # the failure, if any, came from looking for an earlier attempt's post
        try:
            if row["recovering"]:
                checking = True
                try:
                    published = await adapter.reconcile(self.client, account, post)
                except PlatformError as exc:
                    if exc.error_class != ErrorClass.OUTCOME_UNKNOWN:
                        raise
                    unknown = exc
                checking = False
                if published is not None:
                    log.info("reconciled: the post was already live", platform_post_id=published.platform_post_id)
            if published is None and unknown is None:
                if not getattr(adapter, "idempotent_publish", False):
                    if not await self._commit(lambda conn: store.mark_call_started(conn, row["target_id"], row["attempts"]),
                                              wake=False):
                        return  # the lease was taken over: another worker owns this delivery now
                published = await adapter.publish(self.client, account, post)
        except PlatformError as exc:
            failure, outcome = exc, exc.error_class.value
        except asyncio.CancelledError:
            if not lease.lost:
                raise  # shutting down
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            return  # another worker owns this delivery now (see _keep_lease)
        except Exception as exc:  # a bug in an adapter: retried like a transient fault, then failed
            log.exception("adapter raised an unexpected error")
            failure = PlatformError(ErrorClass.TRANSIENT, "an unexpected error inside Siar; it will try again",
                                    detail=f"{type(exc).__name__}: {exc}")
            outcome = ErrorClass.INTERNAL.value
        finally:
            lease.stop()
        if unknown is not None:
            await self._fail(row, unknown.error_class, unknown.reason, unknown.detail)
            return
        if isinstance(failure, StillProcessing):
            self.metrics.processing_waits.labels(platform).inc()
            await self._still_processing(row, failure)
            return
        if failure is not None:
            self.metrics.attempts.labels(platform, outcome).inc()
            # A check that failed (a 429 on the timeline read, say) checked nothing: the next
            # attempt must look again before sending, or it could post a second time.
            await self._handle_error(row, failure, recovering=checking)
            return
        assert published is not None
        self.metrics.attempts.labels(platform, "published").inc()
        self.metrics.call_seconds.labels(platform).observe(time.perf_counter() - started)
        await self._published(row, published)

    async def _published(self, row, published: Published) -> None:
        success = _Success(row, published, datetime.now(UTC))
        if await self._successes.submit(success):
            done = success.recorded
            if not done:
                log.warning("outcome not recorded: another worker took this delivery over after its lease expired")
        else:  # the batch failed (a database blip?): this outcome alone, riding the blip out

            async def write(conn) -> bool:
                if not await _finish(conn, row, state="published", platform_post_id=published.platform_post_id,
                                     url=published.url):
                    return False
                await write_events(conn, SCHEMA, [success.event()])
                return True

            done = await self._commit(write)
        if not done:
            return
        self.metrics.published.labels(row["platform"]).inc()
        self.metrics.lateness.labels(row["platform"]).observe(max(0.0, (success.at - row["due_at"]).total_seconds()))
        log.info("published", platform=row["platform"], url=published.url)

    async def _record_successes(self, successes: Sequence[_Success]) -> None:
        """The published attempts finished at about the same time, in one transaction: one fenced
        UPDATE for all, their post.published in one outbox write, one wake-up."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            recorded = await store.finish_published_many(conn, [
                (s.row["target_id"], s.row["attempts"], s.published.platform_post_id, s.published.url)
                for s in successes
            ])
            await write_events(conn, SCHEMA, [s.event() for s in successes if s.row["target_id"] in recorded])
        for s in successes:
            s.recorded = s.row["target_id"] in recorded
        if recorded:
            self.on_committed()

    async def _fail(self, row, error_class: ErrorClass, reason: str, detail: str | None) -> None:
        async def write(conn) -> bool:
            if not await _finish(conn, row, state="failed", error_class=error_class.value, reason=reason, detail=detail):
                return False
            await write_events(conn, SCHEMA, [failed_event(row, error_class, reason, detail, row["attempts"])])
            return True

        if not await self._commit(write):
            return
        self.metrics.failed.labels(row["platform"], error_class.value).inc()
        log.warning("delivery failed", error_class=error_class.value, reason=reason, detail=detail)

    async def _retry(self, row, exc: PlatformError, at: datetime, *, recovering: bool = False) -> None:
        async def write(conn) -> bool:
            state = await _finish(conn, row, state="pending", error_class=exc.error_class.value, reason=exc.reason,
                                  detail=exc.detail, next_attempt_at=at, recovering=recovering)
            if state is None:
                return False
            if state == "cancelled":  # cancelled while this attempt was under way: no retry
                log.info("delivery cancelled while an attempt was under way; not retried", detail=exc.detail)
                return False
            await write_events(conn, SCHEMA, [retrying_event(row, exc.error_class, exc.reason, at)])
            # A rate limit on posting holds the account's other posts too; one on the read that
            # checked for an earlier attempt's post does not, where the platform limits each
            # endpoint on its own (X, TikTok: separate_read_limits).
            read_only = recovering and reads_limited_apart(row["platform"])
            if exc.error_class in (ErrorClass.RATE_LIMITED, ErrorClass.QUOTA_EXHAUSTED) and not read_only:
                why = held_reason(row["platform"], exc.error_class, at)
                await store.pause_account(conn, row["account_id"], at, why)
                held = await store.hold_pending(conn, row["account_id"], at, exc.error_class.value, why,
                                                row["target_id"])
                await write_events(conn, SCHEMA, [held_event(h, exc.error_class, why) for h in held])
            return True

        if not await self._commit(write):
            return
        log.info("delivery will be retried", error_class=exc.error_class.value, at=at.isoformat(), detail=exc.detail)

    async def _still_processing(self, row, exc: StillProcessing) -> None:
        """The platform is still processing what the attempt sent (kept in the progress): look
        again at the time the adapter gave, without counting the attempt, until its deadline."""
        now = datetime.now(UTC)
        # The adapter's deadline (a container's 24 hours), but never later than two such waits
        # after the first attempt: a container that expired unseen would otherwise be made again
        # and waited for again, for ever (these waits count no attempt).
        latest = (row["first_attempt_at"] or now) + 2 * PROCESSING_WAIT
        give_up_at = min(exc.give_up_at or latest, latest)
        if now >= give_up_at:
            await self._fail(row, exc.error_class, processing_reason(row["platform"], give_up_at), exc.detail)
            return
        at = min(exc.retry_at or now + timedelta(seconds=60), give_up_at)

        async def write(conn) -> bool:
            state = await store.wait_for_platform(
                conn, row["target_id"], row["attempts"], account_id=row["account_id"], claimed_at=row["updated_at"],
                next_attempt_at=at, error_class=exc.error_class.value, reason=exc.reason, detail=exc.detail)
            if state is None:
                log.warning("outcome not recorded: another worker took this delivery over after its lease expired")
                return False
            if state == "cancelled":
                log.info("delivery cancelled while the platform was processing it; not looked at again")
                return False
            await write_events(conn, SCHEMA, [retrying_event(row, exc.error_class, exc.reason, at)])
            return True

        if await self._commit(write):
            log.info("the platform is still processing; looking again later", at=at.isoformat(), detail=exc.detail)

    async def _handle_error(self, row, exc: PlatformError, *, recovering: bool = False) -> None:
        """``recovering``: the attempt failed while checking for an earlier one's post, so every
        retry stays recovering (checks again before sending)."""
        s = self.settings
        klass = exc.error_class
        now = datetime.now(UTC)
        exhausted = row["attempts"] >= s.max_attempts
        if klass in (ErrorClass.RATE_LIMITED, ErrorClass.QUOTA_EXHAUSTED) and not exhausted:
            self.metrics.rate_limit_pauses.labels(row["platform"]).inc()
            await self._retry(row, exc, exc.retry_at or now + timedelta(seconds=60), recovering=recovering)
        elif klass == ErrorClass.OUTCOME_UNKNOWN and not exhausted:
            # An adapter may say when looking again makes sense (Mastodon: once the lost call
            # could have been post-processed); otherwise soon.
            at = exc.retry_at or now + timedelta(seconds=backoff(1, s.backoff_base_seconds, s.backoff_max_seconds))
            await self._retry(row, exc, at, recovering=True)
        elif klass == ErrorClass.AUTH_EXPIRED and row["error_class"] != ErrorClass.AUTH_EXPIRED.value:
            # Refresh the token once and try again at once; expired again means a person is needed.
            if self.refresh_now is not None and await self.refresh_now(row["account_id"]):
                await self._retry(row, exc, now, recovering=recovering)
            else:
                await self._needs_reconnect(row, PlatformError(
                    ErrorClass.AUTH_REVOKED, "the access token expired and could not be renewed; connect the account again",
                    detail=exc.detail))
        elif klass == ErrorClass.AUTH_EXPIRED:
            await self._needs_reconnect(row, PlatformError(
                ErrorClass.AUTH_REVOKED, "the platform refused a freshly renewed token; connect the account again",
                detail=exc.detail))
        elif klass == ErrorClass.TRANSIENT and not exhausted:
            delay = backoff(row["attempts"], s.backoff_base_seconds, s.backoff_max_seconds)
            await self._retry(row, exc, now + timedelta(seconds=delay), recovering=recovering)
        elif klass in (ErrorClass.AUTH_REVOKED, ErrorClass.PERMISSION_DENIED):
            await self._needs_reconnect(row, exc)
        else:
            reason = exc.reason
            if exhausted and (klass.retryable or klass == ErrorClass.OUTCOME_UNKNOWN):
                reason = f"gave up after {row['attempts']} attempts: {exc.reason}"
            await self._fail(row, klass, reason, exc.detail)

    async def _needs_reconnect(self, row, exc: PlatformError) -> None:
        async def write(conn) -> bool:
            if not await _finish(conn, row, state="failed", error_class=exc.error_class.value, reason=exc.reason,
                                 detail=exc.detail):
                return False
            events = [failed_event(row, exc.error_class, exc.reason, exc.detail, row["attempts"])]
            if await store.account_needs_reconnect(conn, row["account_id"], exc.reason):
                events.append(event(
                    AccountNeedsReconnect(account_id=row["account_id"], platform=row["platform"], reason=exc.reason),
                    row["correlation_id"],
                    f"account/{row['account_id']}",
                ))
            for other in await store.fail_pending_of_account(conn, row["account_id"], exc.error_class.value, exc.reason):
                events.append(failed_event(other, exc.error_class, exc.reason, None, other["attempts"]))
            await write_events(conn, SCHEMA, events)
            return True

        if not await self._commit(write):
            return
        self.metrics.failed.labels(row["platform"], exc.error_class.value).inc()
        log.warning("account needs reconnecting", reason=exc.reason, detail=exc.detail)


async def _finish(conn, row, **values) -> str | None:
    """The state recorded, or None when another worker took the delivery over."""
    done = await store.finish(conn, row["target_id"], row["attempts"], **values)
    if done is None:
        log.warning("outcome not recorded: another worker took this delivery over after its lease expired")
    return done

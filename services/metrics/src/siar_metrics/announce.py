"""Announcing the readings: each stored reading's engagement.sampled / audience.sampled event,
published from the readings table itself.

The readings are an append-only log, so the events need no copy of their own: the storing
statement writes nothing of them (before, it put each event's JSON in the outbox: about a fifth
of the statement's time and a third of its WAL, measured: docs/benchmarks.md), and this announcer follows
the log with a cursor, the way the outbox relay follows the outbox:

- a window is one transaction: the cursor's row locked (``FOR UPDATE SKIP LOCKED``: one replica
  announces at a time, the others find it taken and wait for the next wake-up), the next
  ``batch`` readings' events rendered by PostgreSQL (store.ANNOUNCE), published with publisher
  confirms, and the cursor moved past them only once the broker confirmed every one;
- readings go in (txid, request_id) order and only below the horizon: the oldest transaction
  still running anywhere on the server. A transaction that began earlier can commit readings
  with a smaller txid after later ones committed, but never once the horizon has passed it, so
  the cursor never steps over a reading (a transaction left open elsewhere holds the events
  back: ``siar_metrics_events_waiting_seconds`` and docs/operations.md say so);
- a crash or a failed publish leaves the cursor where it was: the window goes out again, with
  the same event ids, and the consumers' inbox absorbs the repeat;
- retention keeps a reading until its event is out (store.prune), and a database restored into
  another server, whose transaction ids start again below the cursor, has its ids offset above
  the old server's before the service stores anything (``prepare``, store.rebase_if_restored).

Storing wakes it in-process after each commit and by NOTIFY from any replica; it also looks
every ``poll_seconds``, taking the cursor's lock only when something waits."""

from __future__ import annotations

import time

import structlog
from siar_contracts import AudienceSampled, EngagementSampled, spec_for_model
from siar_runtime.bus import Bus, Outgoing
from siar_runtime.db import Database
from siar_runtime.metrics import ChassisMetrics
from siar_runtime.outbox import OutboxRelay

from . import store

log = structlog.get_logger("siar.metrics.announce")

TYPES = (spec_for_model(EngagementSampled).type, spec_for_model(AudienceSampled).type)
ROUTING = {"post": "engagement.sampled", "account": "audience.sampled"}


class Announcer(OutboxRelay):
    """The outbox relay's loop (wake-ups, polls, retries with backoff, its metrics), following the
    readings instead of the outbox, one window at a time."""

    what = "announcer"

    def __init__(self, db: Database, bus: Bus, metrics: ChassisMetrics, *, batch: int = 500,
                 poll_seconds: float = 1.0, confirm_timeout: float = 60.0) -> None:
        super().__init__(db, bus, metrics, batch=batch, poll_seconds=poll_seconds, windows=1,
                         confirm_timeout=confirm_timeout, channel=store.ANNOUNCED_CHANNEL)

    async def prepare(self) -> None:
        """Before the service stores anything: rebase the log if the database was restored into
        another server (store.rebase_if_restored)."""
        async with self.db.pool.acquire() as conn:
            offset = await store.rebase_if_restored(conn)
        if offset is not None:
            log.warning("the database comes from another PostgreSQL server: the readings' transaction ids now"
                        " count from above the old server's; the readings it had not announced go out first",
                        txid_offset=offset)

    async def drain_once(self) -> int:
        """Announce window after window until the log is drained (below the horizon) or another
        replica holds the cursor; returns how many events the broker confirmed."""
        total = 0
        while True:
            sent = await self.window()
            total += sent
            if sent < self.batch:
                return total

    async def window(self) -> int:
        """One window: at most ``batch`` events published and confirmed, and the cursor moved."""
        async with self.db.pool.acquire() as conn:
            restored, waiting = await store.peek(conn)
            if restored:  # the database was moved under a running service (docs/operations.md, restore)
                offset = await store.rebase_if_restored(conn)
                log.error("the database's transaction ids went back while the service ran (restored into another"
                          " server?): rebased; readings stored since the move may have no event — restart every"
                          " metrics replica after moving its database", txid_offset=offset)
                return 0
            if not waiting:
                return 0
            async with conn.transaction():
                cursor = await store.announce_cursor(conn)
                if cursor is None:
                    return 0  # another replica is announcing
                rows = await store.unannounced(conn, cursor, self.batch, TYPES)
                if not rows:
                    return 0
                started = time.perf_counter()
                await self.bus.publish_confirmed([
                    Outgoing(routing_key=ROUTING[r["kind"]], body=r["body"], event_id=str(r["request_id"]),
                             event_type=TYPES[r["kind"] != "post"], correlation_id=r["correlation_id"])
                    for r in rows
                ], timeout=self.confirm_timeout)
                last = rows[-1]
                await store.advance_cursor(conn, last["txid"], last["request_id"])
        confirm = time.perf_counter() - started
        for r in rows:
            self.metrics.events_published.labels(ROUTING[r["kind"]]).inc()
            self.metrics.outbox_lag.observe(r["age"] + confirm)
        return len(rows)

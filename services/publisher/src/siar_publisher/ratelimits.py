"""Per-account publishing rates that hold across every publisher replica.

Each platform has a default from shared/platforms.md, which an account may override (a Pro X
tier, a self-hosted Mastodon with other limits). The check is a sliding log: an account may start
at most ``limit`` sends in any window of ``window_seconds``. The log lives in PostgreSQL and is
read and written under a row lock on the account, so replicas queue behind each other for that
account only; other accounts are never held up."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg


@dataclass(frozen=True)
class Rate:
    limit: int
    window_seconds: int

    def describe(self) -> str:
        return f"{self.limit} per {timedelta(seconds=self.window_seconds)}"

    @property
    def guarded_window(self) -> timedelta:
        """The window Siar enforces: the platform's, plus a margin for the time between our
        claim and the platform's clock seeing the request (network, queueing), so that the
        platform never counts more than ``limit`` in any of *its* windows."""
        margin = min(60.0, max(0.25, self.window_seconds * 0.02))
        return timedelta(seconds=self.window_seconds + margin)


DEFAULT_RATES: dict[str, Rate] = {
    "mastodon": Rate(300, 3 * 3600),      # statuses: 300 per 3 h per account
    "telegram": Rate(20, 60),             # about 20 messages a minute per channel
    "x": Rate(100, 24 * 3600),            # Basic tier: 100 posts per 24 h (Pro: 100 per 15 min)
    "bluesky": Rate(1600, 3600),          # 5,000 write points an hour, 3 per post
    "instagram": Rate(100, 24 * 3600),    # 100 API posts per rolling 24 h
    "threads": Rate(250, 24 * 3600),      # 250 posts per 24 h
    "facebook": Rate(200, 3600),          # no published number; conservative
    "youtube": Rate(100, 24 * 3600),      # videos.insert bucket: 100 a day
    "tiktok": Rate(6, 60),                # init: 6 a minute per token
    "linkedin": Rate(150, 24 * 3600),     # about 150 posts a day per member
}


def rate_for(platform: str, limit: int | None, window_seconds: int | None) -> Rate:
    if limit and window_seconds:
        return Rate(limit, window_seconds)
    return DEFAULT_RATES.get(platform, Rate(60, 60))


@dataclass(frozen=True)
class Admission:
    granted: list[asyncpg.Record]
    deferred: list[tuple[asyncpg.Record, datetime]]


async def admit(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> Admission:
    """Split freshly claimed deliveries into those that may be sent now and those that must wait
    (with the time a slot frees). Runs inside the claim's transaction."""
    by_account: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        by_account[row["account_id"]].append(row)
    granted: list[asyncpg.Record] = []
    deferred: list[tuple[asyncpg.Record, datetime]] = []
    for account_id in sorted(by_account):  # a fixed order: replicas never deadlock on accounts
        batch = by_account[account_id]
        account = await conn.fetchrow(
            "SELECT platform, rate_limit, rate_window_seconds, clock_timestamp() AS now"
            " FROM accounts WHERE account_id = $1 FOR UPDATE",
            account_id,
        )
        rate = rate_for(account["platform"], account["rate_limit"], account["rate_window_seconds"])
        window = rate.guarded_window
        window_start = account["now"] - window
        # How many sends the window holds, and only the oldest that a deferral needs: the log
        # may hold thousands (an account allowed 1,600 an hour), and reading it whole on every
        # claim cost more than the claim. The expired part of the log goes in the same trip.
        log = await conn.fetchrow(
            """
            WITH expired AS (DELETE FROM account_sends WHERE account_id = $1 AND sent_at <= $2)
            SELECT (SELECT count(*) FROM account_sends WHERE account_id = $1 AND sent_at > $2) AS used,
                   array(SELECT sent_at FROM account_sends WHERE account_id = $1 AND sent_at > $2
                         ORDER BY sent_at LIMIT $3) AS oldest
            """,
            account_id, window_start, len(batch),
        )
        free = max(0, rate.limit - log["used"])
        now_ok, later = batch[:free], batch[free:]
        if now_ok:
            await conn.execute(
                "INSERT INTO account_sends (account_id, sent_at) SELECT $1, $2 FROM generate_series(1, $3)",
                account_id, account["now"], len(now_ok),
            )
            granted.extend(now_ok)
        if later:
            # The i-th waiting delivery may go when the i-th oldest send leaves the window (the
            # window is full, so it holds at least as many sends as wait).
            oldest = list(log["oldest"]) + [account["now"]] * len(now_ok)
            for i, row in enumerate(later):
                deferred.append((row, oldest[min(i, len(oldest) - 1)] + window))
    return Admission(granted=granted, deferred=deferred)

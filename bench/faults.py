"""The fault matrix: each fault during a burst of posts over several accounts and platforms,
and a checker that compares what was scheduled with what the sandbox received.

    uv run python -m bench.faults                 # every fault, 3 runs each, 5,000 posts
    uv run python -m bench.faults --posts 500 --runs 1 kill-publisher poison

Prints, per run: lost, duplicated and unexpected counts (all must be zero), how many targets
failed with a reason, and the recovery time (from the fault's end to the next post accepted).
The metrics service runs in every stack, collecting each published post's engagement 2 and 6
seconds after publication (the sandbox's insights): the run also counts readings lost (a
published post that metrics never learnt of, or a stage with neither a reading nor a failure
with a reason) and samples stored twice (both must be zero too).
Faults that restart PostgreSQL or RabbitMQ disturb everything else on the machine: run them
alone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import asyncpg
import httpx
from siar_devstack import Stack
from siar_metrics.vocabulary import has_post_insights

from .common import TOKEN, Fresh, fresh_environment, machine, start_stack

ACCOUNTS = [
    ("mastodon", "faulta.token", None),
    ("mastodon", "faultb.token", None),
    ("mastodon", "faultc.token", None),
    ("telegram", "700000001:AAHfaultMatrixBotTokenForTheSandbox01", "@fault_channel_a"),
    ("telegram", "700000002:AAHfaultMatrixBotTokenForTheSandbox02", "@fault_channel_b"),
]
FAST = {"limit": 1_000_000, "window_seconds": 1}
# Engagement read 2 and 6 s after publication, so that readings are taken while the burst and its
# faults are still going on; a request not answered in 20 s is asked again.
METRICS_ENV = {"SIAR_COLLECTION_SCHEDULE": "2s,6s", "SIAR_COLLECTION_ANSWER_TIMEOUT": "20s"}
STAGES = ("2s", "6s")
# What the harness's own look at the database may meet while a fault is still under way (a
# restart cuts its connection mid-query; asyncpg then reports a confused protocol state as an
# InternalClientError, which is no PostgresError): it looks again a second later.
LOOKING_FAILED = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)


@dataclass
class Outcome:
    fault: str
    run: int
    posts: int
    lost: int
    duplicated: int
    unexpected: int
    failed_with_reason: int
    unexplained_failures: int
    recovery_seconds: float | None
    seconds: float
    throughput: float = 0.0
    notes: list[str] = field(default_factory=list)
    readings: int = 0            # engagement readings stored by the metrics service
    readings_lost: int = 0       # (published post, stage) with neither a reading nor a failure with a reason
    samples_doubled: int = 0     # a reading or one of its values stored more than once

    @property
    def ok(self) -> bool:
        return (self.lost == 0 and self.duplicated == 0 and self.unexpected == 0 and self.unexplained_failures == 0
                and self.readings_lost == 0 and self.samples_doubled == 0)


class Burst:
    """One stack, its accounts, and a burst of posts scheduled straight into the scheduler."""

    def __init__(self, env: Fresh, stack: Stack, posts: int) -> None:
        self.env = env
        self.stack = stack
        self.posts = posts
        self.texts: dict[str, str] = {}  # target id -> text
        self.accounts: list[dict] = []
        self.fault_ended: float | None = None

    def connect_accounts(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        httpx.put(f"{self.stack.url('sandbox')}/_sandbox/limits",
                  json={"platform": "telegram", "limit": 1_000_000, "window_seconds": 60})
        for platform, token, chat in ACCOUNTS:
            body = {"platform": platform, "base_url": f"{self.stack.url('sandbox')}/{platform}", "rate_limit": FAST,
                    "credentials": {"access_token": token} if platform == "mastodon" else {"bot_token": token}}
            if chat:
                body["settings"] = {"chat_id": chat}
            response = httpx.post(f"{self.stack.url('publisher')}/v1/accounts", json=body, headers=headers, timeout=10)
            response.raise_for_status()
            self.accounts.append(response.json())
        ids = {a["account_id"] for a in self.accounts}
        for _ in range(300):
            known = httpx.get(f"{self.stack.url('scheduler')}/v1/accounts", headers=headers).json()["accounts"]
            if ids <= {a["account_id"] for a in known}:
                return
            time.sleep(0.05)
        raise TimeoutError("the scheduler never learnt of the accounts")

    async def schedule(self, start: datetime, spread_seconds: float) -> None:
        conn = await asyncpg.connect(self.env.database_url, server_settings={"search_path": "scheduler"})
        posts, targets = [], []
        for i in range(self.posts):
            account = self.accounts[i % len(self.accounts)]
            pid, tid = uuid.uuid4(), uuid.uuid4()
            due = start + timedelta(seconds=spread_seconds * i / self.posts)
            text = f"Fault matrix {uuid.uuid4().hex[:8]} post {i}"
            posts.append((pid, text, "[]", due, str(uuid.uuid4())))
            targets.append((tid, pid, account["account_id"], account["platform"], due))
            self.texts[str(tid)] = text
        await conn.copy_records_to_table("posts", records=posts,
                                         columns=["post_id", "text", "media", "scheduled_at", "correlation_id"])
        await conn.copy_records_to_table("targets", records=targets,
                                         columns=["target_id", "post_id", "account_id", "platform", "due_at"])
        await conn.execute("NOTIFY scheduler_due")
        await conn.close()

    async def settled(self, timeout: float) -> dict[str, asyncpg.Record]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = await asyncpg.connect(self.env.database_url, server_settings={"search_path": "scheduler"})
                try:
                    rows = await conn.fetch("SELECT target_id::text, status, error_class, reason FROM targets")
                finally:
                    conn.terminate()
            except LOOKING_FAILED:  # the observer's own connection, cut by a fault still under way
                rows = []
            open_ = [r for r in rows if r["status"] in ("scheduled", "due", "retrying")]
            if rows and not open_:
                return {r["target_id"]: r for r in rows}
            if time.monotonic() > deadline:
                return {r["target_id"]: r for r in rows}
            await asyncio.sleep(1)

    async def readings(self, targets: dict[str, asyncpg.Record], timeout: float) -> tuple[int, int, int, list[str]]:
        """Waits until the metrics service has read every stage of every published post that has
        post insights (or given a stage up with a reason); returns (readings, lost, doubled, notes)."""
        published = {tid for tid, r in targets.items() if r["status"] == "published"}
        deadline = time.monotonic() + timeout
        while True:
            try:  # a fault still under way (terminate-backends) may close this connection too: look again
                conn = await asyncpg.connect(self.env.database_url, server_settings={"search_path": "metrics"})
            except LOOKING_FAILED:
                await asyncio.sleep(1)
                continue
            try:
                known = await conn.fetch("SELECT target_id, platform FROM targets")
                read = await conn.fetch("SELECT target_id, stage, count(*) AS n FROM readings WHERE kind = 'post'"
                                        " GROUP BY target_id, stage")
                given_up = await conn.fetch("SELECT target_id, stage, reason FROM collections"
                                            " WHERE kind = 'post' AND state = 'failed' AND reason IS NOT NULL")
                doubled = await conn.fetchval(
                    "SELECT (SELECT count(*) FROM (SELECT 1 FROM readings GROUP BY request_id HAVING count(*) > 1) r)"
                    " + (SELECT count(*) FROM (SELECT 1 FROM samples GROUP BY request_id, raw_name"
                    "    HAVING count(*) > 1) s)")
            except LOOKING_FAILED:
                await asyncio.sleep(1)
                continue
            finally:
                await conn.close()
            insights = {r["target_id"] for r in known if has_post_insights(r["platform"])}
            done = {(r["target_id"], r["stage"]) for r in read} | {(r["target_id"], r["stage"]) for r in given_up}
            missing = published - {r["target_id"] for r in known}
            open_ = [(tid, stage) for tid in insights & published for stage in STAGES if (tid, stage) not in done]
            if (not missing and not open_) or time.monotonic() > deadline:
                notes = [f"metrics: {len(missing)} published posts never arrived"] if missing else []
                if given_up:
                    notes.append(f"readings given up: {dict(Counter(r['reason'][:60] for r in given_up))}")
                doubled += sum(r["n"] - 1 for r in read if r["n"] > 1)
                return sum(r["n"] for r in read), len(missing) + len(open_), doubled, notes
            await asyncio.sleep(1)

    def check(self, fault: str, run: int, targets: dict[str, asyncpg.Record], started: float) -> Outcome:
        received = httpx.get(f"{self.stack.url('sandbox')}/_sandbox/posts", timeout=60).json()["posts"]
        counts = Counter(p["text"] for p in received)
        scheduled = set(self.texts.values())
        failed = {tid for tid, r in targets.items() if r["status"] == "failed"}
        explained = {tid for tid in failed if targets[tid]["reason"]}
        lost = sum(1 for tid, text in self.texts.items() if text not in counts and tid not in explained)
        stamps = sorted(datetime.fromisoformat(p["received_at"]).timestamp() for p in received)
        throughput = len(stamps) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0
        recovery = None
        if self.fault_ended is not None:
            after = sorted(datetime.fromisoformat(p["received_at"]).timestamp() for p in received
                           if datetime.fromisoformat(p["received_at"]).timestamp() >= self.fault_ended)
            recovery = after[0] - self.fault_ended if after else None
        notes = [f"failed: {dict(Counter((targets[t]['error_class'], targets[t]['reason'][:80]) for t in explained))}"] if explained else []
        return Outcome(
            notes=notes,
            fault=fault, run=run, posts=self.posts, lost=lost,
            duplicated=sum(n - 1 for t, n in counts.items() if n > 1 and t in scheduled),
            unexpected=sum(n for t, n in counts.items() if t not in scheduled),
            failed_with_reason=len(explained), unexplained_failures=len(failed - explained),
            recovery_seconds=recovery, seconds=time.monotonic() - started, throughput=throughput,
        )


# --- the faults: each an async function of the running burst, called as the burst starts ---

async def kill(burst: Burst, service: str, times: int = 1, every: float = 3.0, down: float = 1.0) -> None:
    for _ in range(times):
        await asyncio.sleep(every)
        process = burst.stack.services[service]
        process.kill(signal.SIGKILL)
        await asyncio.sleep(down)
        process.start()
        await asyncio.to_thread(process.wait_ready, 60)
    burst.fault_ended = time.time()


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {err.decode(errors='replace')}")


async def rabbitmq_restart(burst: Burst) -> None:
    await asyncio.sleep(3)
    await _run("rabbitmqctl", "stop_app")
    await asyncio.sleep(5)
    await _run("rabbitmqctl", "start_app")
    await _run("rabbitmqctl", "await_startup")
    burst.fault_ended = time.time()


async def postgres_restart(burst: Burst) -> None:
    await asyncio.sleep(3)
    version = POSTGRES_VERSION
    await _run("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart")
    burst.fault_ended = time.time()


async def terminate_backends(burst: Burst, every: float = 2.0, times: int = 6) -> None:
    name = burst.env.database_url.rsplit("/", 1)[1]
    for _ in range(times):
        await asyncio.sleep(every)
        conn = await asyncpg.connect(burst.env.database_url.rsplit("/", 1)[0] + "/postgres")
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await conn.close()
    burst.fault_ended = time.time()


async def idle_in_transaction(burst: Burst) -> None:
    """A session that opened a transaction and went idle, holding back vacuum for the whole burst."""
    conn = await asyncpg.connect(burst.env.database_url)
    try:
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        await conn.fetchval("SELECT txid_current()")
        await conn.fetchval("SELECT count(*) FROM scheduler.targets")
        await asyncio.sleep(3600)  # cancelled once the burst has settled
    finally:
        await conn.close()


def sandbox_fault(body: dict) -> Callable[[Burst], Awaitable[None]]:
    async def inject(burst: Burst) -> None:
        async with httpx.AsyncClient(base_url=burst.stack.url("sandbox")) as sandbox:
            for platform in ("mastodon", "telegram"):
                (await sandbox.put("/_sandbox/faults", json={"platform": platform, **body})).raise_for_status()
            await asyncio.sleep(10)
            await sandbox.delete("/_sandbox/faults")
        burst.fault_ended = time.time()

    return inject


async def poison(burst: Burst) -> None:
    """Malformed JSON, an unknown event type and an invalid payload, sent where post.due goes."""
    connection = await aio_pika.connect_robust(burst.env.amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange("siar.events")
    good = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/bench", "type": "org.siar.post.due.v1",
            "time": datetime.now(UTC).isoformat(), "correlationid": "poison", "data": {"post_id": 1}}
    bodies = [b"{this is not json", json.dumps({**good, "type": "org.example.unknown.v1"}).encode(),
              json.dumps(good).encode()]
    await asyncio.sleep(2)
    for body in bodies:
        await exchange.publish(aio_pika.Message(body, message_id=str(uuid.uuid4())), "post.due")
    await connection.close()
    burst.fault_ended = time.time()


FAULTS: dict[str, Callable[[Burst], Awaitable[None]]] = {
    "baseline": lambda burst: asyncio.sleep(0),
    "kill-scheduler": lambda b: kill(b, "scheduler"),
    "kill-scheduler-repeatedly": lambda b: kill(b, "scheduler", times=4, every=2.5),
    "kill-publisher": lambda b: kill(b, "publisher"),
    "kill-publisher-repeatedly": lambda b: kill(b, "publisher", times=4, every=2.5),
    "kill-metrics": lambda b: kill(b, "metrics", every=4.0),
    "kill-metrics-repeatedly": lambda b: kill(b, "metrics", times=4, every=2.5),
    "rabbitmq-restart": rabbitmq_restart,
    "postgres-restart": postgres_restart,
    "terminate-backends": terminate_backends,
    "sandbox-429": sandbox_fault({"error_rates": {"429": 0.3}, "retry_after_seconds": 2}),
    "sandbox-500": sandbox_fault({"error_rates": {"500": 0.3, "503": 0.1}}),
    "sandbox-timeout-after-commit": sandbox_fault({"timeout_after_commit_rate": 0.1, "timeout_seconds": 4}),
    "sandbox-slow": sandbox_fault({"latency_ms": 800, "latency_jitter_ms": 400}),
    "poison": poison,
    "idle-in-transaction": idle_in_transaction,
}
POSTGRES_VERSION = min((p.name for p in Path("/etc/postgresql").iterdir()), default="15") \
    if Path("/etc/postgresql").is_dir() else "15"
DISRUPTIVE = {"rabbitmq-restart", "postgres-restart"}


async def dead_letters(env: Fresh) -> list[str]:
    from siar_runtime.deadletters import peek

    connection = await aio_pika.connect_robust(env.amqp_url)
    letters = await peek(connection, "publisher")
    await connection.close()
    return [letter.reason for letter in letters]


def run_one(fault: str, run: int, posts: int, settle_timeout: float, keep_logs: Path | None = None) -> Outcome:
    with fresh_environment("faults") as env, tempfile.TemporaryDirectory() as temporary:
        logs = keep_logs / f"{fault}-{run}" if keep_logs else temporary
        stack = start_stack(env, Path(logs), {
            "SIAR_LEASE_SECONDS": "10", "SIAR_HTTP_TIMEOUT_SECONDS": "3", "SIAR_BACKOFF_BASE_SECONDS": "0.5",
            "SIAR_SWEEP_SECONDS": "2", **METRICS_ENV,
        }, services=("sandbox", "scheduler", "publisher", "metrics"))
        try:
            burst = Burst(env, stack, posts)
            burst.connect_accounts()

            async def go() -> Outcome:
                started = time.monotonic()
                await burst.schedule(datetime.now(UTC) + timedelta(seconds=3), spread_seconds=0)
                injected = asyncio.create_task(FAULTS[fault](burst))
                targets = await burst.settled(settle_timeout)
                if fault.startswith("kill-"):
                    # A small burst is out before the kills end: they still land among the
                    # deliveries' last retries and the readings taken 2 and 6 s later.
                    await asyncio.wait({injected}, timeout=settle_timeout)
                    targets = await burst.settled(settle_timeout)
                read, readings_lost, samples_doubled, notes = await burst.readings(targets, settle_timeout)
                if not injected.done():
                    injected.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await injected
                outcome = burst.check(fault, run, targets, started)
                outcome.readings_lost, outcome.samples_doubled = readings_lost, samples_doubled
                outcome.readings = read
                outcome.notes += notes
                if fault == "poison":
                    reasons = sorted(await dead_letters(env))
                    outcome.notes.append(f"dead letters: {reasons}")
                    if reasons != ["invalid_payload", "malformed", "unknown_type"]:
                        outcome.unexplained_failures += 1
                return outcome

            return asyncio.run(go())
        finally:
            stack.stop()


def table(outcomes: list[Outcome]) -> str:
    baseline = [o.throughput for o in outcomes if o.fault == "baseline" and o.throughput]
    base = sum(baseline) / len(baseline) if baseline else None
    lines = ["| fault | run | posts | lost | duplicated | unexpected | failed with reason | readings (lost / doubled) "
             "| recovery s | posts/s | vs baseline | total s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        recovery = f"{o.recovery_seconds:.1f}" if o.recovery_seconds is not None else "–"
        versus = f"{o.throughput / base:.2f}" if base else "–"
        lines.append(f"| {o.fault} | {o.run} | {o.posts} | {o.lost} | {o.duplicated} | {o.unexpected} | "
                     f"{o.failed_with_reason} | {o.readings} ({o.readings_lost} / {o.samples_doubled}) | {recovery} | "
                     f"{o.throughput:.0f} | {versus} | {o.seconds:.0f} |"
                     + (f" {'; '.join(o.notes)}" if o.notes else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("faults", nargs="*", default=list(FAULTS), help=f"from: {', '.join(FAULTS)}")
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle-timeout", type=float, default=300)
    parser.add_argument("--logs", type=Path, help="keep each run's service logs in DIR/FAULT-RUN")
    args = parser.parse_args()
    unknown = set(args.faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown fault(s): {', '.join(sorted(unknown))}")
    outcomes = []
    for fault in args.faults:
        for run in range(1, args.runs + 1):
            outcome = run_one(fault, run, args.posts, args.settle_timeout, args.logs)
            outcomes.append(outcome)
            print(f"{fault} #{run}: {'ok' if outcome.ok else 'FAILED'} {outcome}", file=sys.stderr, flush=True)
    print(f"machine: {machine()}\ncommand: python -m bench.faults {' '.join(sys.argv[1:])}\n")
    print(table(outcomes))
    sys.exit(0 if all(o.ok for o in outcomes) else 1)


if __name__ == "__main__":
    main()

"""Peer: the burst and the steady run through Celery 5 with ETA tasks on the same RabbitMQ.

What a Python team would otherwise write: ``publish_post.apply_async(args=[post], eta=due)``
when a post is scheduled, and a Celery worker that makes the Mastodon call when the ETA comes
(bench/celery_app.py; ``acks_late``, ``task_reject_on_worker_lost``, publisher confirms, no result
backend). The worker is a separate ``celery -A bench.celery_app worker`` process on the
benchmark's own vhost; the sandbox is the same one Siar's burst posts to. Dispatch is the moment
the task starts (the worker decided it was due), written by each worker process to a file and
read afterwards; accepted is when ``/_sandbox/stats`` counts every post.

How Celery keeps ETA tasks, and what that means beside Siar (which keeps due rows in PostgreSQL
and sends post.due only when a row is due):

- **ETA tasks live in the worker's memory.** The worker takes an ETA message off the queue at
  once, keeps it unacknowledged in a timer, and raises its channel's prefetch count by one for
  each (on top of concurrency × ``worker_prefetch_multiplier``) so that held tasks do not block
  the queue. Every post scheduled for the future is therefore in some worker's RAM and in
  RabbitMQ's unacked set; ``python -m bench.celery_peer memory`` measures the worker's RSS with
  100,000 tasks scheduled over the next day.
- **Long ETAs and RabbitMQ's consumer_timeout.** RabbitMQ closes a channel whose delivery stays
  unacknowledged longer than ``consumer_timeout`` (default 30 min; this broker, RabbitMQ 3.10.8,
  runs with the default: ``rabbitmqctl eval 'application:get_env(rabbit, consumer_timeout).'``
  answers ``{ok,1800000}``). An ETA task held past it gets the worker's channel closed with
  PRECONDITION_FAILED; the worker reconnects, every held message is redelivered and fetched
  again, and 30 minutes later it happens again. Celery's documentation's advice is to raise or
  disable consumer_timeout on the broker (a broker-wide setting before RabbitMQ 3.12), or to not
  use ETAs beyond it. Siar does not hold deliveries: a post.due is acknowledged in milliseconds.
- **When the worker dies.** Nothing is lost (the held messages were never acknowledged), but
  every ETA task that worker held goes back to the queue at once, and the next worker takes them
  all into memory again; with ``acks_late`` a task that was running is run again, which the
  sandbox's Idempotency-Key turns into no second post (Mastodon keeps keys for one hour).
  ``memory`` shows the held tasks returning to the queue when the worker is killed.
- Celery 5.5+ has "native delayed delivery" for quorum queues (28 TTL queues chained by
  dead-lettering, a message waits in the broker and reaches the worker when due, to the whole
  second): it avoids the memory and consumer_timeout issues but is used only when the task
  queues are quorum queues. This benchmark uses Celery's default classic queue, where ETAs work
  as described above.

Worker pool: ``--pool threads --concurrency 16`` by default. The task waits on HTTP, so one
process with threads keeps 16 calls in flight on two cores without 16 interpreters' memory;
prefork with one process per core (``--pool prefork --concurrency 2``) keeps only two calls in
flight and pays a pipe round trip per task between the consumer and its children. Both are
selectable; docs/benchmarks.md has the short readings of both (prefork was 2–6× slower here).
No prefetch limit by default (``worker_prefetch_multiplier=0``, why in bench/celery_app.py);
``--prefetch-multiplier 4`` runs Celery's default.

``python -m bench.celery_peer [burst N | steady RATE SECONDS | memory N] [--pool P]
[--concurrency C] [--prefetch-multiplier M]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from .common import Fresh, fresh_environment, machine, process_stats, rss_mb, start_stack, summary

ROOT = Path(__file__).resolve().parents[1]
QUEUE = "celery"  # Celery's default queue (classic, durable)
DEFAULT_POOL = "threads"
DEFAULT_CONCURRENCY = {"threads": 16, "prefork": 2}
PRODUCERS = 8


def _children(pid: int) -> list[int]:
    """Every process whose parent is ``pid`` (the worker's pool processes), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


@dataclass
class Worker:
    process: subprocess.Popen
    starts: Path
    pool: str
    concurrency: int
    prefetch_multiplier: int

    @classmethod
    def start(cls, env: Fresh, sandbox: str, workdir: Path, pool: str, concurrency: int,
              prefetch_multiplier: int) -> Worker:
        starts = workdir / "starts"
        starts.mkdir()
        log = open(workdir / "celery-worker.log", "ab")  # noqa: SIM115 — lives as long as the worker
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker", "--pool", pool,
             "--concurrency", str(concurrency), "--loglevel", "WARNING", "--without-gossip",
             "--without-mingle", "-n", "peer@%h"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "SIAR_BENCH_CELERY_BROKER": env.amqp_url, "SIAR_BENCH_SANDBOX": sandbox,
                 "SIAR_BENCH_STARTS": str(starts), "SIAR_BENCH_PREFETCH_MULTIPLIER": str(prefetch_multiplier),
                 "PYTHONUNBUFFERED": "1"},
        )
        worker = cls(process, starts, pool, concurrency, prefetch_multiplier)
        deadline = time.monotonic() + 60
        while not (starts / "ready").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                worker.stop()
                raise RuntimeError(f"the Celery worker did not start; see {workdir / 'celery-worker.log'}")
            time.sleep(0.1)
        return worker

    def pids(self) -> list[int]:
        return [self.process.pid, *_children(self.process.pid)]

    def stats(self) -> tuple[float, float]:
        """(peak RSS in MB, CPU seconds), summed over the consumer process and its pool processes."""
        readings = [process_stats(pid) for pid in self.pids()]
        return sum(r[0] for r in readings), sum(r[1] for r in readings)

    def rss(self) -> float:
        return sum(rss_mb(pid) for pid in self.pids())

    def started(self) -> dict[str, tuple[float, float]]:
        """post id -> (due, first start), from every worker process's file."""
        first: dict[str, tuple[float, float]] = {}
        for path in self.starts.glob("starts-*.log"):
            for line in path.read_text().splitlines():
                post_id, due, start = line.split()
                if post_id not in first or float(start) < first[post_id][1]:
                    first[post_id] = (float(due), float(start))
        return first

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Warm shutdown (held ETA tasks go back to the queue), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def _app(amqp_url: str):
    from .celery_app import app  # Celery is an optional (bench group) dependency

    app.conf.broker_url = amqp_url
    return app


@contextmanager
def producer(amqp_url: str, threads: int = PRODUCERS):
    """A function that schedules posts: ``apply_async(eta=...)`` each, every publish confirmed by
    the broker, from ``threads`` threads with a connection each, as several web workers would
    (one thread waiting for each confirm in turn manages about 300 a second here)."""
    from .celery_app import publish_post

    app = _app(amqp_url)
    with ExitStack() as stack:
        producers = [stack.enter_context(stack.enter_context(app.connection_for_write(amqp_url)).Producer())
                     for _ in range(threads)]
        pool = stack.enter_context(ThreadPoolExecutor(threads))

        def send(kombu_producer, posts: list[tuple[dict, datetime]]) -> None:
            for post, eta in posts:
                publish_post.apply_async(args=[post], eta=eta, producer=kombu_producer)

        def schedule(posts: list[tuple[dict, datetime]]) -> None:
            for done in [pool.submit(send, p, posts[i::threads]) for i, p in enumerate(producers)]:
                done.result()

        yield schedule


def schedule(amqp_url: str, posts: list[tuple[dict, datetime]]) -> None:
    with producer(amqp_url) as send:
        send(posts)


def queue_depth(vhost: str) -> tuple[int, int]:
    """(ready, unacknowledged) messages in Celery's queue."""
    out = subprocess.run(["rabbitmqctl", "list_queues", "-q", "-p", vhost, "name", "messages_ready",
                          "messages_unacknowledged"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == QUEUE:
            return int(parts[1]), int(parts[2])
    return 0, 0


async def _wait_depth(vhost: str, done, timeout: float) -> tuple[int, int]:
    """Poll the queue's depth until ``done(depth)`` or the timeout; return the last depth."""
    deadline = time.time() + timeout
    while True:
        depth = await asyncio.to_thread(queue_depth, vhost)
        if done(depth) or time.time() > deadline:
            return depth
        await asyncio.sleep(1)


def _post(i: int, due: float, kind: str) -> dict:
    return {"id": str(uuid.uuid4()), "text": f"{kind} post {i}", "due": due}


async def _accepted(sandbox: httpx.AsyncClient, n: int, deadline: float) -> tuple[float | None, int]:
    """When the sandbox counted n posts (None if not by the deadline), and its count."""
    while True:
        total = (await sandbox.get("/_sandbox/stats")).json()["posts"]["total"]
        if total >= n:
            return time.time(), total
        if time.time() > deadline:
            return None, total
        await asyncio.sleep(0.1)


def _resources(worker: Worker, before: tuple[float, float], stack, sandbox_before: tuple[float, float],
               n: int) -> dict:
    peak, cpu = worker.stats()
    sandbox_peak, sandbox_cpu = process_stats(stack.services["sandbox"].process.pid)
    per = max(n, 1) / 1000
    return {f"celery-worker ({worker.pool} ×{worker.concurrency})":
            {"peak_rss_mb": peak, "cpu_s_per_1000": (cpu - before[1]) / per, "processes": len(worker.pids())},
            "sandbox": {"peak_rss_mb": sandbox_peak, "cpu_s_per_1000": (sandbox_cpu - sandbox_before[1]) / per}}


async def burst(n: int = 20_000, pool: str = DEFAULT_POOL, concurrency: int | None = None,
                prefetch_multiplier: int = 0) -> dict:
    """n posts due in the same second: time until every task started and until the sandbox
    accepted every post, measured from the due second. The tasks are published and (unless the
    worker is too slow to take them in, reported as ``queued_at_due``) held by the worker before
    the due second, as they would be for posts scheduled long before."""
    concurrency = concurrency or DEFAULT_CONCURRENCY[pool]
    with fresh_environment("celery") as env, tempfile.TemporaryDirectory() as tmp:
        stack = start_stack(env, Path(tmp) / "logs", services=("sandbox",))
        worker = None
        try:
            worker = Worker.start(env, stack.url("sandbox"), Path(tmp), pool, concurrency, prefetch_multiplier)
            before, sandbox_before = worker.stats(), process_stats(stack.services["sandbox"].process.pid)
            # Every task is published before the due second: a lead of 5 s plus the scheduling
            # time at 400 confirmed publishes a second (900/s measured on a busy machine; checked below).
            due = time.time() + 5 + n / 400
            eta = datetime.fromtimestamp(due, UTC)
            cpu_before = time.process_time()
            scheduling = time.time()
            await asyncio.to_thread(schedule, env.amqp_url, [(_post(i, due, "Burst"), eta) for i in range(n)])
            scheduled = time.time()
            producer_cpu = time.process_time() - cpu_before
            if scheduled >= due:
                raise RuntimeError(f"scheduling took {scheduled - scheduling:.1f} s and ran past the due second")
            ready, held = await _wait_depth(env.vhost, lambda d: d == (0, n), due - time.time() - 1)
            all_held = time.time() if (ready, held) == (0, n) else None
            async with httpx.AsyncClient(base_url=stack.url("sandbox"), timeout=10) as sandbox:
                accepted_at, posts = await _accepted(sandbox, n, due + 600)
            started = worker.started()
            resources = _resources(worker, before, stack, sandbox_before, n)
            lateness = [start - d for d, start in started.values()]
            dispatched = max(lateness) if lateness else float("nan")
            return {
                "n": n, "pool": pool, "concurrency": concurrency, "prefetch_multiplier": prefetch_multiplier,
                "schedule_seconds": scheduled - scheduling, "schedule_rate": n / (scheduled - scheduling),
                "producer_cpu_s_per_1000": producer_cpu / n * 1000,
                "all_held_seconds_before_due": due - all_held if all_held else None, "queued_at_due": ready,
                "started": len(started), "first_start_seconds": min(lateness) if lateness else None,
                "dispatch_seconds": dispatched, "dispatch_rate": len(started) / dispatched,
                "accepted_seconds": accepted_at - due if accepted_at else None, "sandbox_posts": posts,
                "lateness": summary(lateness), "resources": resources,
            }
        finally:
            if worker is not None:
                worker.stop()
            stack.stop()


def _steady_producer(amqp_url: str, rate: int, seconds: int, first_due: float, lead: float) -> float:
    """Publish each second's tasks ``lead`` seconds before that second; return the worst lateness
    of a chunk's publishing against its deadline (negative: always ahead)."""
    worst = float("-inf")
    with producer(amqp_url) as send:
        for k in range(seconds):
            start = first_due + k
            wait = start - lead - time.time()
            if wait > 0:
                time.sleep(wait)
            send([(_post(k * rate + i, start + i / rate, "Steady"), datetime.fromtimestamp(start + i / rate, UTC))
                  for i in range(rate)])
            worst = max(worst, time.time() - start)
    return worst


async def steady(rate: int = 500, seconds: int = 300, pool: str = DEFAULT_POOL,
                 concurrency: int | None = None, prefetch_multiplier: int = 0, lead: float = 10) -> dict:
    """``rate`` tasks a second for ``seconds``, ETAs spread evenly; each second's tasks are
    scheduled ``lead`` seconds ahead. Lateness = task start minus ETA."""
    concurrency = concurrency or DEFAULT_CONCURRENCY[pool]
    n = rate * seconds
    with fresh_environment("celery") as env, tempfile.TemporaryDirectory() as tmp:
        stack = start_stack(env, Path(tmp) / "logs", services=("sandbox",))
        worker = None
        try:
            worker = Worker.start(env, stack.url("sandbox"), Path(tmp), pool, concurrency, prefetch_multiplier)
            before, sandbox_before = worker.stats(), process_stats(stack.services["sandbox"].process.pid)
            first_due = time.time() + lead + 2
            cpu_before = time.process_time()
            producer_late = await asyncio.to_thread(_steady_producer, env.amqp_url, rate, seconds, first_due, lead)
            producer_cpu = time.process_time() - cpu_before
            async with httpx.AsyncClient(base_url=stack.url("sandbox"), timeout=10) as sandbox:
                accepted_at, posts = await _accepted(sandbox, n, first_due + seconds + 120)
            started = worker.started()
            resources = _resources(worker, before, stack, sandbox_before, n)
            lateness = [start - due for due, start in started.values()]
            return {
                "rate": rate, "seconds": seconds, "n": n, "pool": pool, "concurrency": concurrency,
                "prefetch_multiplier": prefetch_multiplier,
                "lead_seconds": lead, "producer_worst_seconds_before_due": -producer_late,
                "producer_cpu_s_per_1000": producer_cpu / n * 1000,
                "started": len(started), "delivered": posts,
                "dispatch_rate": len(started) / max(max((st for _, st in started.values()), default=first_due) - first_due, 1e-9),
                "accepted_after_last_due_seconds": accepted_at - (first_due + seconds) if accepted_at else None,
                "lateness": summary(lateness),
                # when the latest starts were due (seconds into the run): a pattern or a blip
                "latest": [[round(due - first_due, 2), round(start - due, 3)]
                           for due, start in sorted(started.values(), key=lambda ds: ds[0] - ds[1])[:5]],
                "resources": resources,
            }
        finally:
            if worker is not None:
                worker.stop()
            stack.stop()


async def held_in_memory(n: int = 100_000, horizon: int = 86_400, pool: str = DEFAULT_POOL,
                         concurrency: int | None = None, prefetch_multiplier: int = 0) -> dict:
    """The worker's RSS with n tasks scheduled over the next ``horizon`` seconds (none of them
    due during the run), then what RabbitMQ holds when that worker is killed."""
    concurrency = concurrency or DEFAULT_CONCURRENCY[pool]
    with fresh_environment("celery") as env, tempfile.TemporaryDirectory() as tmp:
        # No task runs: the sandbox is not needed; nothing listens on port 9.
        worker = Worker.start(env, "http://127.0.0.1:9", Path(tmp), pool, concurrency, prefetch_multiplier)
        try:
            idle_rss = worker.rss()
            first = time.time() + 600
            posts = [(_post(i, first + i * horizon / n, "Later"), datetime.fromtimestamp(first + i * horizon / n, UTC))
                     for i in range(n)]
            scheduling = time.time()
            await asyncio.to_thread(schedule, env.amqp_url, posts)
            scheduled = time.time()
            depth = await _wait_depth(env.vhost, lambda d: d == (0, n), 300)
            taken_in = time.time()
            await asyncio.sleep(2)  # let the consumer settle before reading its memory
            held_rss = worker.rss()
            consumer_rss = rss_mb(worker.process.pid)
            worker.kill()
            after_kill = await _wait_depth(env.vhost, lambda d: d[0] == n, 60)
            return {
                "n": n, "horizon_seconds": horizon, "pool": pool, "concurrency": concurrency,
                "schedule_seconds": scheduled - scheduling,
                "all_held_after_seconds": taken_in - scheduling, "queue_ready_unacked_while_held": depth,
                "worker_rss_idle_mb": idle_rss, "worker_rss_holding_mb": held_rss,
                "consumer_process_rss_mb": consumer_rss,
                "kb_per_held_task": (held_rss - idle_rss) * 1024 / n,
                "queue_ready_unacked_after_worker_killed": after_kill,
            }
        finally:
            worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.celery_peer", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", default="burst", choices=["burst", "steady", "memory"])
    parser.add_argument("numbers", nargs="*", type=int, help="burst N | steady RATE SECONDS | memory N")
    parser.add_argument("--pool", default=DEFAULT_POOL, choices=["threads", "prefork"])
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--prefetch-multiplier", type=int, default=0, help="0 = no limit (default); Celery's own default is 4")
    args = parser.parse_args()
    options = {"pool": args.pool, "concurrency": args.concurrency, "prefetch_multiplier": args.prefetch_multiplier}
    if args.run == "burst":
        result = asyncio.run(burst(*args.numbers[:1], **options))
    elif args.run == "steady":
        result = asyncio.run(steady(*args.numbers[:2], **options))
    else:
        result = asyncio.run(held_in_memory(*args.numbers[:1], **options))
    print(f"machine: {machine()}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

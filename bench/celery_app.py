"""The Celery app of the peer benchmark (bench/celery_peer.py): one task that publishes a post to
the sandbox's Mastodon API, the same call Siar's publisher makes.

Configured from the environment so the worker (a separate ``celery -A bench.celery_app worker``
process) and the producer (the benchmark) agree:

- ``SIAR_BENCH_CELERY_BROKER``  the AMQP URL (the benchmark's own vhost)
- ``SIAR_BENCH_SANDBOX``        the sandbox's base URL
- ``SIAR_BENCH_STARTS``         a directory: each worker process appends ``id due started`` lines
                                to its own file there, one ``os.write`` per task (an O_APPEND write
                                of one short line is atomic, so the threads pool can share a file;
                                no database round trip in the measured path)
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
from celery import Celery
from celery.signals import worker_process_init, worker_ready

TOKEN = "celerypeer.token"  # the sandbox accepts any bearer token; the part before "." is the account

app = Celery("siar_bench_peer", broker=os.environ.get("SIAR_BENCH_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//"))
app.conf.update(
    task_acks_late=True,  # ack after the post is made, so a worker that dies loses nothing
    task_reject_on_worker_lost=True,  # ... and its task goes back to the queue instead of failing
    task_ignore_result=True,  # no result backend: nothing reads results, and one would cost a write per task
    task_serializer="json",
    accept_content=["json"],
    # 0 = no prefetch limit. With a limit (Celery's default is 4 × concurrency) each ETA task
    # taken in raises the channel's prefetch count by one and each one run lowers it, each
    # change a basic.qos round trip in the worker's loop: in one run here 5,000 ETA tasks took
    # 44 s to reach the worker with the limit, 7 s without. Every task on this queue is an ETA
    # task the worker keeps until due anyway, so the limit buys nothing
    # (python -m bench.celery_peer ... --prefetch-multiplier 4 to compare).
    worker_prefetch_multiplier=int(os.environ.get("SIAR_BENCH_PREFETCH_MULTIPLIER", "0")),
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    # The producer waits for the broker's confirm of each message, as Siar's outbox relay does:
    # without it a message in flight when the broker fails is lost silently.
    broker_transport_options={"confirm_publish": True},
    timezone="UTC",
    enable_utc=True,
)

_lock = threading.Lock()
_per_process: dict[int, tuple[httpx.Client, int]] = {}


def _process_state() -> tuple[httpx.Client, int]:
    """This process's HTTP client (thread-safe, shared by the threads pool's threads) and its
    start-times file, made once per worker process: after the fork, warmed at start (below) so
    the first tasks do not pay for them."""
    pid = os.getpid()
    state = _per_process.get(pid)
    if state is None:
        with _lock:
            state = _per_process.get(pid)
            if state is None:
                client = httpx.Client(base_url=os.environ["SIAR_BENCH_SANDBOX"], timeout=30,
                                      limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
                path = Path(os.environ["SIAR_BENCH_STARTS"]) / f"starts-{pid}.log"
                state = client, os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                _per_process[pid] = state
    return state


class Retryable(Exception):
    """The platform asked to come back later (429, 5xx) or did not answer."""


@app.task(bind=True, autoretry_for=(Retryable,), retry_backoff=1, retry_jitter=True, max_retries=10)
def publish_post(self, post: dict) -> str:
    """POST /api/v1/statuses with the post's id as Idempotency-Key, like the publisher's Mastodon
    adapter; ``post`` = {"id", "text", "due" (epoch seconds, for the measurement only)}."""
    started = time.time()
    client, starts = _process_state()
    if self.request.retries == 0:
        os.write(starts, f"{post['id']} {post['due']!r} {started!r}\n".encode())
    try:
        response = client.post(
            "/mastodon/api/v1/statuses",
            headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": post["id"]},
            json={"status": post["text"], "visibility": "public"},
        )
    except httpx.TransportError as exc:
        raise Retryable(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise Retryable(f"HTTP {response.status_code}")
    response.raise_for_status()  # any other refusal is final: the task fails with the reason
    return str(response.json()["id"])


@worker_process_init.connect
def _warm_child(**_: object) -> None:
    _process_state()  # a prefork pool process


@worker_ready.connect
def _announce_ready(**_: object) -> None:
    """The benchmark waits for this file before it schedules anything."""
    _process_state()  # the consumer process, where the threads pool runs tasks
    Path(os.environ["SIAR_BENCH_STARTS"], "ready").write_text(str(os.getpid()))

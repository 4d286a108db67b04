"""HTTP client: CPU per platform call of the publisher's client beside plain httpx and aiohttp.

    uv run python -m bench.http_client [CALLS]

Starts the sandbox in its own process and, in this one, posts CALLS statuses to its Mastodon
API at 16 and at 128 calls in flight with each client: httpx with its own pool (httpcore), Siar's
client (httpx over aiohttp, siar_publisher.transport), and aiohttp alone. Prints the client's CPU
milliseconds per call (this process only; the sandbox's CPU is not counted) and calls a second.
This is the measurement behind the publisher's choice of transport."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time

import aiohttp
import httpx
from siar_publisher.transport import http_client

from .common import free_port, machine

TOKEN = "bench.token"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(send, calls: int, in_flight: int) -> dict[str, float]:
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with gate:
            await send(i)

    await asyncio.gather(*(one(-1 - i) for i in range(in_flight)))  # open the connections first
    cpu, wall = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    return {"cpu_ms_per_call": cpu / calls * 1000, "calls_per_second": calls / wall}


async def run(url: str, calls: int, in_flight: int) -> dict[str, dict[str, float]]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    results = {}
    limits = httpx.Limits(max_connections=in_flight * 2, max_keepalive_connections=in_flight)
    for name, client in (("httpx (httpcore pool)", httpx.AsyncClient(limits=limits, timeout=30)),
                         ("Siar: httpx over aiohttp", http_client(timeout_seconds=30, max_connections=in_flight * 2))):
        async with client:
            async def send(i: int, client=client, name=name) -> None:
                r = await client.post(url, json={"status": f"call {i}"}, headers={**headers, "Idempotency-Key": f"{name}{i}"})
                assert r.status_code == 200, r.text
                r.json()

            results[name] = await measure(send, calls, in_flight)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight * 2)) as session:
        async def send_aiohttp(i: int) -> None:
            async with session.post(url, json={"status": f"call {i}"},
                                    headers={**headers, "Idempotency-Key": f"aiohttp{i}"}) as r:
                assert r.status == 200, await r.text()
                await r.json()

        results["aiohttp alone"] = await measure(send_aiohttp, calls, in_flight)
    return results


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    port = free_port()
    env = {**os.environ, "SIAR_HTTP_PORT": str(port), "SIAR_LOG_LEVEL": "warning"}
    sandbox = subprocess.Popen([sys.executable, "-m", "siar_sandbox"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/mastodon/api/v1/statuses"
        table = {n: asyncio.run(run(url, calls, n)) for n in (16, 128)}
    finally:
        sandbox.terminate()
        sandbox.wait()
    print(f"machine: {machine()}")
    print(f"command: uv run python -m bench.http_client {calls}")
    print("| client | in flight | CPU ms / call | calls / s |")
    print("|---|---:|---:|---:|")
    for n, results in table.items():
        for name, r in results.items():
            print(f"| {name} | {n} | {r['cpu_ms_per_call']:.2f} | {r['calls_per_second']:,.0f} |")
    print(json.dumps(table))


if __name__ == "__main__":
    main()

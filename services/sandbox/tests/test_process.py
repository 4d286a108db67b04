"""``python -m siar_sandbox`` as a real process on a real port."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_module_serves_on_a_real_port():
    port = _free_port()
    env = {
        **os.environ,
        "SIAR_HTTP_HOST": "127.0.0.1",
        "SIAR_HTTP_PORT": str(port),
        "SIAR_LOG_LEVEL": "info",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "siar_sandbox",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            for _ in range(150):
                if process.returncode is not None:
                    raise AssertionError("sandbox exited early")
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("sandbox never became ready")
            r = await client.post(
                "/mastodon/api/v1/statuses",
                headers={"Authorization": "Bearer library.secret", "Idempotency-Key": "proc-1"},
                json={"status": "Halo dari proses nyata"},
            )
            assert r.status_code == 200
            assert r.json()["url"] == f"{base}/mastodon/@library/{r.json()['id']}"
            posts = (await client.get("/_sandbox/posts")).json()
            assert posts["count"] == 1 and posts["posts"][0]["text"] == "Halo dari proses nyata"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), 15)
        except TimeoutError:
            process.kill()
            _, stderr = await process.communicate()
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    events = [line.get("event") for line in lines]
    assert any(
        line.get("event") == "sandbox_starting" and line.get("port") == port for line in lines
    )
    assert "sandbox_stopped" in events
    assert process.returncode == 0

"""The publisher's HTTP client (httpx over aiohttp) against real sockets: what it sends and
returns, and — what Siar's promise rests on — which failures count as "the platform may have
acted" (outcome unknown) and which as "never sent" (safe to retry)."""

# ruff: noqa: F811 - the server fixture imported from socket_kit is redefined as a parameter

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import tracemalloc

import aiohttp
import httpx
import pytest
from siar_contracts import ErrorClass
from siar_publisher.adapters.base import transport_error
from siar_publisher.transport import STREAM, http_client

from services.publisher.tests.socket_kit import server  # noqa: F401 - a fixture


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    line, *fields = head.decode("latin-1").split("\r\n")[:-2]
    headers: dict[str, str] = {}
    for field in fields:
        name, _, value = field.partition(":")
        headers[name.strip().lower()] = (headers.get(name.strip().lower(), "") + "," if name.strip().lower() in headers else "") + value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return line.encode(), headers, body


def answer(status: int, body: bytes, *extra: tuple[str, str]) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in extra)]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def test_a_request_goes_out_as_httpx_built_it_and_the_answer_comes_back_whole(server):
    seen: list[tuple[bytes, dict[str, str], bytes]] = []

    async def echo(reader, writer):
        while True:
            try:
                seen.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                return
            body = json.dumps({"n": len(seen)}).encode()
            writer.write(answer(201, body, ("Content-Type", "application/json"), ("Set-Cookie", "a=1"),
                                ("Set-Cookie", "b=2"), ("X-RateLimit-Remaining", "299")))
            await writer.drain()

    base = await server(echo)
    async with http_client(timeout_seconds=5) as client:
        first = await client.post(f"{base}/api/v1/statuses", params={"q": "ä b"}, json={"status": "Halo"},
                                  headers={"Authorization": "Bearer t", "Idempotency-Key": "k1"})
        second = await client.post(f"{base}/upload", files={"file": ("a.png", b"\x89PNG...", "image/png")})
    assert first.status_code == 201 and first.json() == {"n": 1} and second.json() == {"n": 2}
    assert first.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert first.headers["x-ratelimit-remaining"] == "299"
    line, headers, body = seen[0]
    assert line == b"POST /api/v1/statuses?q=%C3%A4+b HTTP/1.1"
    assert headers["authorization"] == "Bearer t" and headers["idempotency-key"] == "k1"
    assert headers["user-agent"].startswith("Siar/") and headers["content-type"] == "application/json"
    assert json.loads(body) == {"status": "Halo"}
    # The answer's cookies are the caller's to read, never kept: the next request (which could be
    # another account's, to the same host) goes without them.
    assert "cookie" not in seen[1][1] and len(client.cookies) == 0
    assert seen[1][1]["content-type"].startswith("multipart/form-data; boundary=")
    assert b'filename="a.png"' in seen[1][2] and b"\x89PNG..." in seen[1][2]


async def test_compressed_answers_are_decoded_once_and_redirects_followed_by_httpx(server):
    async def handler(reader, writer):
        line, _, _ = await read_request(reader)
        if line.startswith(b"GET /old"):
            writer.write(answer(302, b"", ("Location", "/new")))
        else:
            writer.write(answer(200, gzip.compress(b"hello " * 100), ("Content-Encoding", "gzip")))
        await writer.drain()
        writer.close()

    base = await server(handler)
    async with http_client(timeout_seconds=5) as client:
        moved = await client.get(f"{base}/old")
        assert moved.status_code == 302 and moved.headers["location"] == "/new"
        followed = await client.get(f"{base}/old", follow_redirects=True)
    assert followed.status_code == 200 and followed.text == "hello " * 100
    assert [r.status_code for r in followed.history] == [302]


def classify(exc: httpx.HTTPError) -> ErrorClass:
    return transport_error(exc, "sandbox").error_class


async def test_a_platform_that_cannot_be_reached_was_never_sent_anything():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with http_client(timeout_seconds=2) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.post(f"http://127.0.0.1:{port}/x", json={})
    assert classify(caught.value) is ErrorClass.TRANSIENT


async def test_no_answer_in_time_after_the_request_arrived_is_an_unknown_outcome(server):
    arrived = asyncio.Event()

    async def silent(reader, writer):
        await read_request(reader)
        arrived.set()
        await asyncio.sleep(3)

    base = await server(silent)
    async with http_client(timeout_seconds=0.3) as client:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await client.post(f"{base}/x", json={"status": "?"})
    assert arrived.is_set() and classify(caught.value) is ErrorClass.OUTCOME_UNKNOWN


async def test_a_body_that_stalls_halfway_is_an_unknown_outcome_too(server):
    async def stalls(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"id\":")
        await writer.drain()
        await asyncio.sleep(3)

    base = await server(stalls)
    async with http_client(timeout_seconds=0.3) as client:
        with pytest.raises(httpx.HTTPError) as caught:
            await client.post(f"{base}/x", json={})
    assert classify(caught.value) is ErrorClass.OUTCOME_UNKNOWN


async def test_a_connection_closed_after_the_request_arrived_is_an_unknown_outcome(server):
    async def hangs_up(reader, writer):
        await read_request(reader)
        writer.close()

    base = await server(hangs_up)
    async with http_client(timeout_seconds=2) as client:
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await client.post(f"{base}/x", json={})
    assert classify(caught.value) is ErrorClass.OUTCOME_UNKNOWN


async def test_a_reset_or_a_garbled_answer_after_the_request_arrived_is_an_unknown_outcome(server):
    async def resets(reader, writer):
        await read_request(reader)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()

    async def garbles(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 abc not-a-status\r\n\r\n")
        await writer.drain()
        writer.close()

    for handler in (resets, garbles):
        base = await server(handler)
        async with http_client(timeout_seconds=2) as client:
            with pytest.raises(httpx.TransportError) as caught:
                await client.post(f"{base}/x", json={})
        assert classify(caught.value) is ErrorClass.OUTCOME_UNKNOWN, (handler.__name__, caught.value)


async def test_waiting_for_a_free_connection_too_long_was_never_sent(server):
    release = asyncio.Event()

    async def slow(reader, writer):
        await read_request(reader)
        await release.wait()
        writer.write(answer(200, b"{}"))
        await writer.drain()

    base = await server(slow)
    async with http_client(timeout_seconds=0.5, max_connections=1) as client:
        busy = asyncio.create_task(client.get(f"{base}/a", timeout=httpx.Timeout(5, pool=5)))
        await asyncio.sleep(0.1)
        with pytest.raises(httpx.TimeoutException) as caught:
            await client.post(f"{base}/b", json={}, timeout=httpx.Timeout(5, pool=0.3))
        release.set()
        assert (await busy).status_code == 200
    assert isinstance(caught.value, httpx.ConnectTimeout | httpx.PoolTimeout)
    assert classify(caught.value) is ErrorClass.TRANSIENT


async def test_a_reset_while_the_body_goes_out_is_an_unknown_outcome_and_not_repeated(server):
    """The server reads the head and closes while a large body is still going out: aiohttp
    reports a reset it cannot place (writing or reading), so it counts as maybe sent — Siar
    checks before sending again, and the transport does not repeat it on its own."""
    heads: list[bytes] = []

    async def refuses_the_body(reader, writer):
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.close()

    base = await server(refuses_the_body)
    async with http_client(timeout_seconds=5) as client:
        with pytest.raises(httpx.TransportError) as caught:
            await client.post(f"{base}/upload", content=b"x" * 20_000_000)
    assert classify(caught.value) is ErrorClass.OUTCOME_UNKNOWN, caught.value
    assert len(heads) == 1


def test_the_words_aiohttp_uses_for_a_body_it_could_not_write_mean_never_sent():
    """aiohttp says so (client_reqrep.write_bytes) when the connection closed under the body —
    typically a pooled connection the server had just closed as idle: the platform never had
    the whole request, so it is a WriteError (retried at once by the transport, then later)."""
    from siar_publisher.transport import _mapped

    for exc in (aiohttp.ClientOSError(None, "Can not write request body for http://127.0.0.1/x"),
                aiohttp.ClientConnectionError("Failed to send bytes into the underlying connection <c>: OSError()")):
        mapped = _mapped(exc)
        assert isinstance(mapped, httpx.WriteError) and classify(mapped) is ErrorClass.TRANSIENT
    other = _mapped(aiohttp.ClientOSError(104, "Connection reset by peer"))
    assert isinstance(other, httpx.ReadError) and classify(other) is ErrorClass.OUTCOME_UNKNOWN


async def test_a_request_whose_body_could_not_be_written_in_time_was_not_sent(server):
    # A large upload on a slow line: the platform never had the whole request, so it cannot have
    # acted on it; "outcome unknown" would have sent the delivery to a check that finds nothing
    # (Telegram cannot check at all: the post failed for good).
    async def never_reads(reader, writer):
        await asyncio.sleep(3)

    base = await server(never_reads)
    async with httpx.AsyncClient(timeout=httpx.Timeout(5, write=0.3)) as client:
        with pytest.raises(httpx.WriteTimeout) as caught:
            await client.post(f"{base}/upload", content=b"\0" * 64 * 1024 * 1024)
    assert classify(caught.value) is ErrorClass.TRANSIENT


# --------------------------------------------------------------------------- streams (media)


async def test_a_streamed_answer_comes_as_it_is_read_and_its_failures_are_httpxs(server):
    # Media is downloaded as a stream (transport.STREAM): 48 MiB arrive without being held.
    size = 48 * 1024**2

    async def big(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // 65536):
            writer.write(b"\x00" * 65536)
            await writer.drain()
        writer.close()

    async def stalls(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"\x00" * 1000)
        await writer.drain()
        await asyncio.sleep(3)

    async def cut(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"\x00" * 1000)
        await writer.drain()
        writer.close()

    async with http_client(timeout_seconds=0.5) as client:
        tracemalloc.start()
        try:
            got = 0
            async with client.stream("GET", f"{await server(big)}/v.mp4", extensions={STREAM: True}) as response:
                async for chunk in response.aiter_bytes():
                    got += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert got == size and peak < 4 * 1024**2, peak
        for handler, error in ((stalls, httpx.ReadTimeout), (cut, httpx.TransportError)):
            with pytest.raises(error) as caught:
                async with client.stream("GET", f"{await server(handler)}/v.mp4", extensions={STREAM: True}) as r:
                    async for _ in r.aiter_bytes():
                        pass
            assert classify(caught.value) in (ErrorClass.OUTCOME_UNKNOWN, ErrorClass.TRANSIENT)
        # The client goes on working (the cut connections were not put back in the pool).
        assert len((await client.get(f"{await server(big)}/v.mp4")).content) == size


async def test_a_streamed_body_goes_out_as_it_is_read_with_its_length(server):
    # Bluesky's videos are uploaded from disk: the body is an async iterator, sent with the
    # Content-Length given (not chunked), and never held whole.
    size = 40 * 1024**2
    seen: dict = {}

    async def counts(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        seen["head"] = head.decode("latin-1").lower()
        total = 0
        while total < size:
            data = await reader.read(1 << 20)
            if not data:
                break
            total += len(data)
        seen["received"] = total
        writer.write(answer(200, b"{}"))
        await writer.drain()
        writer.close()

    async def chunks():
        for _ in range(size // (1 << 20)):
            yield b"\x01" * (1 << 20)

    base = await server(counts)
    async with http_client(timeout_seconds=5) as client:
        tracemalloc.start()
        try:
            response = await client.post(f"{base}/upload", content=chunks(), extensions={STREAM: True},
                                         headers={"Content-Length": str(size), "Content-Type": "video/mp4"})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert response.status_code == 200 and seen["received"] == size
    assert f"content-length: {size}" in seen["head"] and "transfer-encoding" not in seen["head"]
    assert peak < 6 * 1024**2, peak

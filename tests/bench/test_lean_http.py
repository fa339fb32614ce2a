"""bench.lean_http.LeanClient against a scripted HTTP/1.1 server on 127.0.0.1: what it sends,
how it reads each kind of answer, when it keeps a connection, and the errors it raises."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import orjson
import pytest
from bench.lean_http import LeanClient

Reply = Callable[[bytes], Awaitable[bytes | None]]  # request bytes -> answer, None: hang up


@asynccontextmanager
async def scripted(reply: Reply) -> AsyncIterator[tuple[str, list[bytes], list[int]]]:
    """A server answering each request with `reply`; yields its URL, the requests it read and
    how many connections it accepted."""
    requests: list[bytes] = []
    accepted = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                request = head + await reader.readexactly(length)
                requests.append(request)
                answer = await reply(request)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", requests, accepted
    finally:
        server.close()


def answer(status: str, body: bytes, *extra: str) -> bytes:
    head = "".join(f"{line}\r\n" for line in extra)
    return f"HTTP/1.1 {status}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


async def test_sends_json_with_its_headers_and_keeps_the_connection() -> None:
    async def reply(_request: bytes) -> bytes:
        return answer("201 Created", b'{"id": 7}', "Content-Type: application/json")

    async with scripted(reply) as (url, requests, accepted):
        async with LeanClient(url, headers={"Authorization": "Bearer t"}) as client:
            first = await client.post("/api/v1/orders", json={"a": 1}, headers={"X-Key": "k1"})
            second = await client.post("/api/v1/orders", json={"a": 2})

    assert (first.status_code, first.json(), first.text) == (201, {"id": 7}, '{"id": 7}')
    assert second.status_code == 201
    assert accepted == [1]  # kept alive
    head, _, body = requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /api/v1/orders HTTP/1.1"
    assert {"Authorization: Bearer t", "X-Key: k1", "Content-Type: application/json"} <= set(lines)
    assert f"Content-Length: {len(body)}" in lines
    assert orjson.loads(body) == {"a": 1}
    assert b"X-Key" not in requests[1]


async def test_reads_a_chunked_answer() -> None:
    async def reply(_request: bytes) -> bytes:
        return b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n" + (
            b'5\r\n{"a":\r\n2;x=1\r\n1}\r\n0\r\n\r\n'
        )

    async with scripted(reply) as (url, _requests, accepted):
        async with LeanClient(url) as client:
            assert (await client.post("/", json={})).json() == {"a": 1}
            assert (await client.post("/", json={})).status_code == 409
    assert accepted == [1]


async def test_a_connection_the_server_closes_is_not_used_again() -> None:
    async def reply(_request: bytes) -> bytes:
        return answer("200 OK", b"{}", "Connection: close")

    async with scripted(reply) as (url, _requests, accepted):
        async with LeanClient(url) as client:
            await client.post("/", json={})
            await client.post("/", json={})
    assert accepted == [2]


async def test_a_hang_up_a_silence_and_a_refusal_raise_httpx_errors() -> None:
    async def hang_up(_request: bytes) -> None:
        return None

    async with scripted(hang_up) as (url, _requests, _accepted):
        async with LeanClient(url) as client:
            with pytest.raises(httpx.ReadError):
                await client.post("/", json={})

    async def silent(_request: bytes) -> bytes:
        await asyncio.sleep(5)
        return answer("200 OK", b"{}")

    async with scripted(silent) as (url, _requests, _accepted):
        async with LeanClient(url, timeout=0.2) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.post("/", json={})

    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with LeanClient(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(httpx.ConnectError):
            await client.post("/", json={})

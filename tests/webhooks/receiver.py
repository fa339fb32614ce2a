"""A real HTTP receiver on 127.0.0.1 (a random port) that checks every signature.

    async with Receiver() as receiver:
        receiver.secrets["/a"] = secret          # the secret of the subscription posting to /a
        receiver.fail_first["/a"] = 2            # answer 500 to the first two requests to /a
        ...
        receiver.received                        # every request, in order of arrival

Speaks just enough HTTP/1.1 (Content-Length bodies, keep-alive) for httpx. A request whose
X-Shopdb-Hmac-Sha256 does not verify is answered 401 and counted in `bad_signatures`.
`down`: every request is answered 503; `delay`: seconds before each answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson

from shopdb.webhooks import signing


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    secrets: dict[str, str] = field(default_factory=dict)
    fail_first: dict[str, int] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    down: bool = False
    received: list[Received] = field(default_factory=list)
    bad_signatures: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _seen: dict[str, int] = field(default_factory=dict)
    _connections: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def accepted(self, path: str | None = None) -> list[Received]:
        return [r for r in self.received if r.status == 200 and path in (None, r.path)]

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                _method, path, _version = request_line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status = await self._answer(path, headers, body)
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._connections.discard(task)
            writer.close()

    async def _answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        if path in self.delay:
            await asyncio.sleep(self.delay[path])
        secret = self.secrets.get(path)
        signature = headers.get("x-shopdb-hmac-sha256", "")
        if secret is None or not signing.verify(secret, body, signature):
            status = 401
            self.bad_signatures += 1
        elif self.down:
            status = 503
        else:
            seen = self._seen[path] = self._seen.get(path, 0) + 1
            status = 500 if seen <= self.fail_first.get(path, 0) else 200
        self.received.append(Received(path, headers, body, status))
        return status

"""A lean HTTP/1.1 client for the scenarios that wrk cannot drive (flash_sale, order_lifecycle).

Those need a decision per response (buy again, take the next step), so they run in Python.
httpx cost the flash sale's driver about 6 ms of CPU a request (0.6 of the machine's 2 cores
for 200 buyers), and on one event loop that work queues: a buyer's clock kept running while
the driver served the others, so the latency it reported was partly its own (p99 2.7 s where
the server's own log said 1.7 s). This client writes each request with one `write` on a
kept-alive asyncio stream and reads the answer by its Content-Length (or chunks): about a tenth
of that CPU. It offers what the drivers use of httpx.AsyncClient (`post` with a JSON body,
`status_code`, `text`, `json()`) and raises httpx's exceptions, so they handle errors as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import orjson


class Poster(Protocol):
    """What the Python-driven scenarios ask of a client: LeanClient, or httpx's in tests."""

    async def post(
        self, path: str, /, *, json: Any, headers: Mapping[str, str] | None = None
    ) -> Any: ...


class LeanResponse:
    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return orjson.loads(self.content)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


class LeanClient:
    """Kept-alive connections to one server, at most `max_connections` at once (one per
    request in flight); `headers` go with every request."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        max_connections: int = 100,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"a plain http:// base URL is needed, not {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.timeout = timeout
        self._head = f"Host: {parts.netloc}\r\nContent-Type: application/json\r\n"
        self._head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    async def post(
        self, path: str, *, json: Any, headers: Mapping[str, str] | None = None
    ) -> LeanResponse:
        body = orjson.dumps(json)
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        request = (
            f"POST {path} HTTP/1.1\r\n{self._head}{extra}Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        async with self._slots:
            connection = self._idle.pop() if self._idle else None
            try:
                async with asyncio.timeout(self.timeout):
                    if connection is None:
                        connection = await self._connect()
                    response, keep = await self._exchange(connection, request)
            except TimeoutError as exc:
                if connection is not None:
                    connection.close()
                raise httpx.ReadTimeout(f"no answer within {self.timeout} s") from exc
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                if connection is not None:
                    connection.close()
                raise httpx.ReadError(f"{type(exc).__name__}: {exc}") from exc
            if keep:
                self._idle.append(connection)
            else:
                connection.close()
            return response

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        return _Connection(reader, writer)

    @staticmethod
    async def _exchange(connection: _Connection, request: bytes) -> tuple[LeanResponse, bool]:
        connection.writer.write(request)
        head = await connection.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        version, status, *_ = status_line.split(" ", 2)
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        reader = connection.reader
        if "content-length" in headers:
            content = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            content = await _chunks(reader)
        else:  # delimited by the connection's end
            content = await reader.read()
            headers["connection"] = "close"
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        return LeanResponse(int(status), headers, content), keep


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers are sent to these scenarios
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)

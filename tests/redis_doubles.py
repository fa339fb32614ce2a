"""Redis that fails in the ways production's does: refused, hung, or cut off from one worker."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# A client that reports a refused connection at once instead of retrying with backoff.
NO_RETRY = Retry(NoBackoff(), 0)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@asynccontextmanager
async def hung_server() -> AsyncIterator[int]:
    """The port of a local server that accepts connections and never answers (a hung Redis)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


class FlakyRedis:
    """One worker's client to a real Redis: counts the round trips it makes (each call of
    `mget`, `get`, `set`, `execute_command`, or a pipeline's `execute`), can be cut off
    (`down`: every call raises ConnectionError, as an unreachable Redis does), and can hold
    pipelines at `hold` until it is set."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.down = False
        self.round_trips: list[str] = []
        self.hold: asyncio.Event | None = None
        self.holding = asyncio.Event()

    def _cut(self, name: str) -> None:
        if self.down:
            raise RedisConnectionError(f"{name}: Redis is unreachable from this worker")

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method: Callable[..., Any] = getattr(self.real, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self._cut(name)
            self.round_trips.append(name)
            return await method(*args, **kwargs)

        return call

    def pipeline(self, *, transaction: bool = True) -> _Pipeline:
        return _Pipeline(self, self.real.pipeline(transaction=transaction))


class _Pipeline:
    def __init__(self, owner: FlakyRedis, real: Any) -> None:
        self.owner = owner
        self.real = real

    async def __aenter__(self) -> _Pipeline:
        await self.real.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.real.__aexit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)  # queued commands: no round trip yet

    async def execute(self) -> Any:
        hold = self.owner.hold
        if hold is not None:
            self.owner.holding.set()
            await hold.wait()
        self.owner._cut("pipeline")
        self.owner.round_trips.append("pipeline")
        return await self.real.execute()

"""A server process that has been asked to stop, still serving while it is taken out of rotation.

On SIGTERM (shopdb.serving) the process drains before it stops: readiness answers 503 so the
load balancer (a Kubernetes Service, a proxy polling /health/ready) stops sending new
requests, every response closes its connection so that keep-alive clients reconnect to
another instance, and requests keep being served meanwhile. Only then does the server stop
accepting, finish the requests in flight and close its pools. Stopping to accept at once
would refuse the requests the balancer sends before it has seen the pod leave, and close
keep-alive connections that clients are about to reuse.

The state is per process, because a signal is: each uvicorn worker drains on its own.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Draining:
    """Whether this process is draining, and since when (monotonic seconds)."""

    def __init__(self) -> None:
        self.since: float | None = None

    @property
    def active(self) -> bool:
        return self.since is not None

    def begin(self) -> None:
        if self.since is None:
            self.since = time.monotonic()


DRAINING = Draining()

CONNECTION_CLOSE = (b"connection", b"close")


class CloseConnectionsWhileDraining:
    """While draining, every response asks its client to close the connection.

    A client on keep-alive would otherwise reuse its connection until the server closes it
    at the end of the drain, and a request written as it closes fails (the client cannot
    tell whether it was received). After one answer with `Connection: close`, the client's
    next request opens a new connection, which the balancer sends to a ready instance.
    """

    def __init__(self, app: ASGIApp, draining: Draining = DRAINING) -> None:
        self.app = app
        self.draining = draining

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Not draining (nearly always): no wrapper around every message. A response started
        # just before the drain began goes without the header; the client's next request on
        # that connection gets it.
        if scope["type"] != "http" or not self.draining.active:
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.draining.active:
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, CONNECTION_CLOSE]}
            await send(message)

        await self.app(scope, receive, send_closing)

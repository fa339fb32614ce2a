"""The request is the unit of work: commit after the endpoint returns, before the response leaves.

A commit in a `yield` dependency would run after the response is sent, so a failed commit
could follow a 2xx the client already has. This route class commits first, so a commit
failure becomes the error response instead. The app provides the commit step as
`app.state.finish_unit_of_work(request, success=...)`, keeping this module free of the database.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope


class UnitOfWorkRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            finish = getattr(request.app.state, "finish_unit_of_work", None)
            try:
                response = await handler(request)
            except BaseException:
                if finish is not None:
                    await finish(request, success=False)
                raise
            if finish is not None:
                await finish(request, success=response.status_code < 400)
            return response

        return handle


class PrefixedRouter(APIRouter):
    """An APIRouter that rules itself out at once for paths outside its prefix.

    FastAPI (0.16x) matches an included router by trying each of its routes, and repeats the
    walk at every level of inclusion when it dispatches; with ~100 routes under /api/v1 that
    was a third of the CPU of a request to a constant endpoint. Every route of this router
    has a path that contains its prefix, wherever the router is mounted, so a path without it
    cannot match any of them.
    """

    _routes_version_cache: int | None = None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.prefix and self.prefix not in scope["path"]:
            return Match.NONE, {}
        return super().matches(scope)

    # FastAPI (0.16x) checks, several times per request and at every level of inclusion,
    # whether a router's routes changed, by summing a version over the router and everything
    # included in it: a walk over every route under /api/v1, each time. The sum is kept
    # until this router's routes change. A router included here checks its own version when
    # it is matched, so a route added to it later is still found (tests/test_routing.py).
    def _get_routes_version(self, seen: set[int] | None = None) -> int:
        if self._routes_version_cache is None:
            self._routes_version_cache = super()._get_routes_version(seen)
        return self._routes_version_cache

    def _mark_routes_changed(self) -> None:
        self._routes_version_cache = None
        super()._mark_routes_changed()


def domain_router(prefix: str, tags: list[str]) -> APIRouter:
    """Every domain router commits through UnitOfWorkRoute; build them here to not forget it."""
    return PrefixedRouter(prefix=prefix, tags=list(tags), route_class=UnitOfWorkRoute)

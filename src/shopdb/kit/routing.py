"""The request is the unit of work: commit after the endpoint returns, before the response leaves.

A commit in a `yield` dependency would run after the response is sent, so a failed commit
could follow a 2xx the client already has. This route class commits first, so a commit
failure becomes the error response instead. The app provides the commit step as
`app.state.finish_unit_of_work(request, success=...)`, keeping this module free of the database.

Every route of the application is one of these (`create_app` makes it the default route
class, and every router is built with it), and it is also where path and query parameters
are checked before FastAPI converts them: an unknown query parameter, a NUL character or an
integer beyond PostgreSQL's BIGINT is a 400 naming the parameter, for every route at once.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from fastapi import APIRouter, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import Match
from starlette.types import Scope

from shopdb.errors import ValidationFailed
from shopdb.kit.bounds import MAX_BIGINT, MIN_BIGINT, NUL_MESSAGE, bigint_message
from shopdb.kit.query import QueryReader, query_aliases


class UnitOfWork(Protocol):
    """What the route needs from the application: commit (or roll back) the request's work."""

    async def finish_unit_of_work(self, request: Request, *, success: bool) -> None: ...

    def read_failed_on_replica(self, request: Request, exc: BaseException) -> bool: ...


_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


def _is_integer_type(annotation: Any) -> bool:
    if annotation is int:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return int in typing.get_args(annotation)
    return False


class ParameterGuard:
    """What a route accepts in its path and query string, checked before FastAPI parses it."""

    def __init__(self, route: APIRoute) -> None:
        query: dict[str, Any] = {}
        path: dict[str, Any] = {}
        for dependant in _walk(route.dependant):
            for field in dependant.query_params:
                query.update(_by_alias(field))
            if isinstance(dependant.call, QueryReader):
                query.update(dependant.call.aliases)
            for field in dependant.path_params:
                path.update(_by_alias(field))
        self.query_names = frozenset(query)
        self.integer_query = frozenset(n for n, t in query.items() if _is_integer_type(t))
        self.integer_path = frozenset(n for n, t in path.items() if _is_integer_type(t))

    def check(self, request: Request) -> None:
        details: list[dict[str, str]] = []
        for name, value in request.path_params.items():
            details.extend(self._value_problems(name, value, name in self.integer_path))
        if request.scope.get("query_string"):
            for name, value in request.query_params.multi_items():
                if name not in self.query_names:
                    details.append({"field": name, "message": self._unknown(name)})
                    continue
                details.extend(self._value_problems(name, value, name in self.integer_query))
        if details:
            raise ValidationFailed("Validation failed", details)

    @staticmethod
    def _value_problems(name: str, value: object, integer: bool) -> list[dict[str, str]]:
        if not isinstance(value, str):
            return []
        if "\x00" in value:
            return [{"field": name, "message": NUL_MESSAGE}]
        if integer and _INTEGER.fullmatch(value) and not MIN_BIGINT <= int(value) <= MAX_BIGINT:
            return [{"field": name, "message": bigint_message()}]
        return []

    def _unknown(self, name: str) -> str:
        known = sorted(self.query_names)
        close = [k for k in known if k.replace("_", "").lower() == name.replace("_", "").lower()]
        if close:
            return f"unknown query parameter; did you mean {close[0]}?"
        if not known:
            return "unknown query parameter; this endpoint takes none"
        return "unknown query parameter; expected one of " + ", ".join(known)


def _walk(dependant: Dependant) -> list[Dependant]:
    found, pending = [], [dependant]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(current.dependencies)
    return found


def _by_alias(field: Any) -> dict[str, Any]:
    """{name on the wire: type}; a Pydantic model used as a query string (`Annotated[Model,
    Query()]`) is read field by field, by each field's alias."""
    annotation = field.field_info.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return query_aliases(annotation)
    return {field.alias: annotation}


class _RunAgain(Exception):
    """The request's first run failed in a way a second run may not (UnitOfWorkRoute)."""


def _query_readers(dependant: Dependant) -> list[QueryReader]:
    return [d.call for d in _walk(dependant) if isinstance(d.call, QueryReader)]


class UnitOfWorkRoute(APIRoute):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A query string read by kit.query's reader is documented as FastAPI documents a
        # `Query()` model: one parameter per field.
        readers = _query_readers(self.dependant)
        if readers:
            extra = dict(self.openapi_extra or {})
            documented = [p for reader in readers for p in reader.openapi_parameters()]
            extra["parameters"] = [*extra.get("parameters", []), *documented]
            self.openapi_extra = extra

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        guard = ParameterGuard(self)

        async def handle(request: Request) -> Response:
            guard.check(request)
            # None: an application without Services (a bare FastAPI app in a test).
            work: UnitOfWork | None = getattr(request.app.state, "services", None)
            try:
                return await run(request, work, may_retry=True)
            except _RunAgain:
                # A read whose replica went away mid-query runs once more, on the primary
                # (the replica is marked down, so the new session's reads skip it).
                return await run(request, work, may_retry=False)

        async def run(request: Request, work: UnitOfWork | None, *, may_retry: bool) -> Response:
            try:
                response = await handler(request)
            except BaseException as exc:
                again = (
                    may_retry
                    and work is not None
                    and isinstance(exc, Exception)
                    and work.read_failed_on_replica(request, exc)
                )
                if work is not None:
                    await work.finish_unit_of_work(request, success=False)
                if again:
                    raise _RunAgain from exc
                raise
            if work is not None:
                await work.finish_unit_of_work(request, success=response.status_code < 400)
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

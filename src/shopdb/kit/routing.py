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


def domain_router(prefix: str, tags: list[str]) -> APIRouter:
    """Every domain router commits through UnitOfWorkRoute; build them here to not forget it."""
    return APIRouter(prefix=prefix, tags=list(tags), route_class=UnitOfWorkRoute)

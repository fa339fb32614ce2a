"""PrefixedRouter: a router whose prefix is not in the path is skipped without trying its routes."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from starlette.routing import Match

from shopdb.kit.routing import PrefixedRouter


def app_with_routers() -> FastAPI:
    api = PrefixedRouter(prefix="/api/v1")
    things = PrefixedRouter(prefix="/things")
    others = PrefixedRouter(prefix="/others")

    @things.get("/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"thing": thing_id}

    @others.get("/{other_id}")
    async def other(other_id: int) -> dict[str, int]:
        return {"other": other_id}

    api.include_router(things)
    api.include_router(others)
    app = FastAPI()
    app.include_router(api)
    # The same router mounted under a second prefix still answers there.
    app.include_router(things, prefix="/admin/api/2025-01")
    return app


async def test_routes_resolve_under_every_mount() -> None:
    transport = httpx.ASGITransport(app=app_with_routers())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/api/v1/things/1")).json() == {"thing": 1}
        assert (await client.get("/api/v1/others/2")).json() == {"other": 2}
        assert (await client.get("/admin/api/2025-01/things/3")).json() == {"thing": 3}
        assert (await client.get("/api/v1/nothing/4")).status_code == 404


def test_a_path_without_the_prefix_is_ruled_out_before_the_routes() -> None:
    router = PrefixedRouter(prefix="/things")

    @router.get("/{thing_id}")
    async def thing(thing_id: int) -> None: ...

    scope = {"type": "http", "path": "/api/v1/others/1", "method": "GET"}
    assert router.matches(scope) == (Match.NONE, {})


async def test_a_route_added_after_requests_were_served_is_found() -> None:
    api = PrefixedRouter(prefix="/api/v1")
    things = PrefixedRouter(prefix="/things")

    @things.get("/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"thing": thing_id}

    api.include_router(things)
    app = FastAPI()
    app.include_router(api)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/api/v1/things/1")).status_code == 200
        assert (await client.get("/api/v1/things/1/parts")).status_code == 404

        @things.get("/{thing_id}/parts")  # to the included router, whose version is cached
        async def parts(thing_id: int) -> dict[str, int]:
            return {"parts": thing_id}

        @api.get("/status")  # and to the including one
        async def status() -> dict[str, str]:
            return {"status": "ok"}

        assert (await client.get("/api/v1/things/1/parts")).json() == {"parts": 1}
        assert (await client.get("/api/v1/status")).json() == {"status": "ok"}

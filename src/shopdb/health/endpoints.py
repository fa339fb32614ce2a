"""Liveness and readiness probes (public: orchestrators call them without credentials)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from shopdb.db import Database

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 2.0


@router.get("/health")
async def liveness() -> dict[str, str]:
    """The process is up. Touches no dependency, so a slow database never restarts the pod."""
    return {"status": "ok"}


@router.get("/health/ready")
async def readiness(request: Request) -> JSONResponse:
    """Ready to serve: the database answers, and Redis too when it is configured."""
    checks: dict[str, str] = {}
    database: Database = request.app.state.database
    checks["database"] = await _check(_ping_database(database))
    redis = getattr(request.app.state, "redis", None)
    if redis is not None:
        checks["redis"] = await _check(redis.ping())
    failing = [name for name, result in checks.items() if result != "ok"]
    if failing:
        return JSONResponse(
            {
                "status": "unavailable",
                "code": "SERVICE_UNAVAILABLE",
                "message": "Not ready: " + ", ".join(failing),
                "checks": checks,
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "checks": checks})


async def _ping_database(database: Database) -> None:
    async with database.primary.connect() as connection:
        read_only = await connection.execution_options(sqlite_begin="DEFERRED")
        await read_only.execute(text("SELECT 1"))


async def _check(probe: object) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"

"""Liveness and readiness probes (public: orchestrators call them without credentials)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from shopdb.db import Database
from shopdb.health.draining import DRAINING
from shopdb.services import services_of

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 2.0
# Redis is optional, so its check must answer within a kubelet's default probe timeout (1 s):
# a hung Redis must leave the pod ready, not time the probe out.
REDIS_CHECK_TIMEOUT_SECONDS = 0.5
# Replicas likewise (reads fall back to the primary): past this, their last known state is told.
REPLICA_CHECK_TIMEOUT_SECONDS = 0.5


@router.get("/health")
async def liveness() -> dict[str, str]:
    """The process is up. Touches no dependency, so a slow database never restarts the pod."""
    return {"status": "ok"}


@router.get("/health/ready")
async def readiness(request: Request) -> JSONResponse:
    """Ready to serve while the database answers.

    Redis, when configured, is reported but not required: without it the product cache reads
    PostgreSQL and rate limits fall back to each worker, so the service still works, and taking
    every pod out of the load balancer for it would turn a slower service into none. Read
    replicas likewise: one that is down or lags too far is reported `degraded` (its reads go
    to the primary meanwhile), and the answer stays 200 while the primary answers.

    A process told to stop (SIGTERM, health/draining.py) is not ready, whatever its
    dependencies say: the balancer must stop sending it requests before it stops accepting.
    """
    if DRAINING.active:
        return JSONResponse(
            {
                "status": "draining",
                "code": "SERVICE_UNAVAILABLE",
                "message": "Not ready: shutting down",
                "checks": {},
            },
            status_code=503,
        )
    services = services_of(request.app)
    database, redis = services.database, services.redis
    probes = [_check(_ping_database(database), CHECK_TIMEOUT_SECONDS)]
    if redis is not None:
        probes.append(_check(redis.ping(), REDIS_CHECK_TIMEOUT_SECONDS))
    replicas = database.replica_set
    if replicas:  # checked at most once per replica_check_seconds, shared with the requests'
        probes.append(_check(replicas.current(), REPLICA_CHECK_TIMEOUT_SECONDS))
    results = await asyncio.gather(*probes)  # concurrently: the slower one bounds the probe
    checks = {"database": "ok" if results[0] is None else f"unavailable: {results[0]}"}
    if redis is not None:
        checks["redis"] = "ok" if results[1] is None else f"degraded: {results[1]}"
    for replica in replicas.replicas:  # as last known, if the check is still running
        checks[replica.label] = replica.status()
    if checks["database"] != "ok":
        return JSONResponse(
            {
                "status": "unavailable",
                "code": "SERVICE_UNAVAILABLE",
                "message": "Not ready: database",
                "checks": checks,
            },
            status_code=503,
        )
    status = "ok" if all(result == "ok" for result in checks.values()) else "degraded"
    return JSONResponse({"status": status, "checks": checks})


async def _ping_database(database: Database) -> None:
    async with database.primary.connect() as connection:
        read_only = await connection.execution_options(sqlite_begin="DEFERRED")
        await read_only.execute(text("SELECT 1"))


async def _check(probe: Awaitable[object], seconds: float) -> str | None:
    """None when `probe` succeeds in time, else the name of what went wrong."""
    try:
        async with asyncio.timeout(seconds):
            await probe
    except Exception as exc:
        return type(exc).__name__
    return None

"""The /api/v1 router: every domain's endpoints are mounted here."""

from __future__ import annotations

from fastapi import APIRouter

from shopdb.kit.routing import UnitOfWorkRoute

api_router = APIRouter(prefix="/api/v1", route_class=UnitOfWorkRoute)


def _mount_domains() -> None:
    from shopdb.auth.endpoints import router as auth_router

    api_router.include_router(auth_router)


_mount_domains()

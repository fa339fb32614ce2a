"""The /api/v1 router: every domain's endpoints are mounted here."""

from __future__ import annotations

from fastapi import APIRouter

from shopdb.kit.routing import UnitOfWorkRoute

api_router = APIRouter(prefix="/api/v1", route_class=UnitOfWorkRoute)

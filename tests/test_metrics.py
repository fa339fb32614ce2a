from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.metrics import route_template
from shopdb.services import services_of
from shopdb.users.service import create_user


async def bearer_for(app: FastAPI, session: AsyncSession, *permissions: str) -> dict[str, str]:
    """A staff user holding exactly `permissions`, and a token for them."""
    from shopdb.models import UserPermission
    from shopdb.users.repository import PermissionRepository

    user = await create_user(session, email="metrics@example.com", password="p" * 12)
    for permission in await PermissionRepository(session).get_by_names(permissions):
        session.add(UserPermission(user_id=user.id, permission_id=permission.id))
    await session.flush()
    token = services_of(app).tokens.issue(user.id, permissions).token
    return {"Authorization": f"Bearer {token}"}


class TestRouteTemplate:
    def test_replaces_path_parameter_values_with_their_names(self) -> None:
        scope = {"route": object(), "path": "/api/v1/products/42", "path_params": {"id": 42}}
        assert route_template(scope) == "/api/v1/products/{id}"

    def test_unmatched_paths_share_one_label(self) -> None:
        assert route_template({"path": "/nope/123", "path_params": {}}) == "unmatched"


class TestMetricsEndpoint:
    async def test_requires_credentials(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/metrics")
        assert response.status_code == 401

    async def test_requires_the_metrics_permission(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        headers = await bearer_for(app, db_session, "products:read")
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 403

    async def test_counts_requests_by_route_template(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        await client.get("/health")
        headers = await bearer_for(app, db_session, "metrics:read")
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        lines = response.text.splitlines()
        assert any(
            line.startswith("http_requests_total{")
            and 'endpoint="/health"' in line
            and 'status_code="200"' in line
            for line in lines
        )
        assert any(line.startswith("http_request_duration_seconds_bucket{") for line in lines)

"""GET /api/v1/jobs/{id}: the generic view, behind the permission of the job's kind."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from shopdb.db import Database
from shopdb.jobs import enqueue
from shopdb.jobs.kinds import FILES_DELETE, PRODUCTS_IMPORT
from shopdb.services import services_of
from tests.catalog.test_csv import MUG, csv_text, post_csv
from tests.fixtures.catalog import Headers, TokenFactory
from tests.jobs.helpers import run_jobs


async def queued_deletion(database: Database) -> int:
    async with database.session() as session:
        return (await enqueue(session, FILES_DELETE, {"key": "products/1/x.png"})).id


class TestGetJob:
    async def test_shows_a_queued_job(
        self, client: httpx.AsyncClient, database: Database, token_for: TokenFactory
    ) -> None:
        job_id = await queued_deletion(database)

        response = await client.get(f"/api/v1/jobs/{job_id}", headers=token_for("products:read"))

        assert response.status_code == 200
        body = response.json()
        assert {k: body[k] for k in ("id", "kind", "status", "attempts", "maxAttempts")} == {
            "id": job_id,
            "kind": "files/delete",
            "status": "queued",
            "attempts": 0,
            "maxAttempts": FILES_DELETE.max_attempts,
        }
        assert (body["startedAt"], body["finishedAt"], body["error"], body["result"]) == (
            None,
            None,
            None,
            {},
        )
        assert body["runAfter"] is not None
        assert body["createdAt"] is not None
        assert "payload" not in body  # storage keys are not the client's business

    async def test_shows_an_import_completed_by_the_worker(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
    ) -> None:
        services_of(app).settings.import_inline_max_products = 0
        try:
            posted = await post_csv(client, admin, csv_text(*MUG))
        finally:
            services_of(app).settings.import_inline_max_products = 200
        assert posted.status_code == 202
        await run_jobs(app)

        response = await client.get(f"/api/v1/jobs/{posted.json()['id']}", headers=admin)

        body = response.json()
        assert (body["kind"], body["status"], body["attempts"]) == (
            PRODUCTS_IMPORT.name,
            "completed",
            1,
        )
        assert (body["total"], body["processed"], body["result"]["created"]) == (1, 1, 1)
        assert body["startedAt"] is not None
        assert body["finishedAt"] is not None

    async def test_needs_the_permission_of_the_jobs_kind(
        self, client: httpx.AsyncClient, database: Database, token_for: TokenFactory
    ) -> None:
        job_id = await queued_deletion(database)

        refused = await client.get(f"/api/v1/jobs/{job_id}", headers=token_for("orders:read"))
        anonymous = await client.get(f"/api/v1/jobs/{job_id}")

        assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
        assert anonymous.status_code == 401

    async def test_an_unknown_id_is_404(
        self, client: httpx.AsyncClient, token_for: TokenFactory
    ) -> None:
        response = await client.get("/api/v1/jobs/999999", headers=token_for("products:read"))

        assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")

    async def test_the_import_route_does_not_show_other_kinds(
        self, client: httpx.AsyncClient, database: Database, admin: Headers
    ) -> None:
        job_id = await queued_deletion(database)

        response = await client.get(f"/api/v1/products/import/{job_id}", headers=admin)

        assert response.status_code == 404

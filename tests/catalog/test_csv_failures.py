"""One product's failure is that product's alone, and no SQL or exception text reaches a client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.imports import jobs
from shopdb.catalog.imports.csv_format import parse_products
from shopdb.catalog.imports.service import DATABASE_ERROR
from shopdb.catalog.products import service
from shopdb.catalog.products.schemas import ProductCreate
from shopdb.models import Product
from shopdb.services import services_of
from tests.catalog.test_csv import MUG, csv_text, post_csv
from tests.fixtures.catalog import Headers
from tests.jobs.helpers import run_jobs

SECRET = "no_such_table_holding_the_secret"


def product(handle: str, **cells: str) -> dict[str, str]:
    return {**MUG[0], "Handle": handle, "Title": handle.title(), **cells}


@pytest.fixture
def faulty_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """Creating the product `faulty` meets a real database error (both backends raise one)."""
    original = service.create_product

    async def create(session: AsyncSession, data: ProductCreate, **kwargs: Any) -> Product:
        created = await original(session, data, **kwargs)
        if created.handle == "faulty":
            await session.execute(text(f"INSERT INTO {SECRET} (value) VALUES ('x')"))
        return created

    monkeypatch.setattr(service, "create_product", create)


@pytest.fixture
def background(app: FastAPI) -> Iterator[None]:
    """Every file of more than one product is imported as a background job."""
    services_of(app).settings.import_inline_max_products = 1
    yield
    services_of(app).settings.import_inline_max_products = 200


async def handles(session: AsyncSession) -> list[str]:
    rows = await session.scalars(select(Product.handle).order_by(Product.handle))
    return list(rows)


class TestParserRefusesWhatCannotBeStored:
    def test_a_nul_character_is_a_line_error(self) -> None:
        (nul,) = parse_products(csv_text(product("nul", Title="Bad\x00Title")))
        assert [(e.line, e.message) for e in nul.errors] == [
            (2, "Title: contains a NUL character (\\x00), which cannot be stored")
        ]

    def test_an_over_long_value_is_a_line_error(self) -> None:
        (long,) = parse_products(csv_text(product("long", Vendor="v" * 256)))
        assert [(e.line, e.message) for e in long.errors] == [
            (2, "Vendor: longer than 255 characters")
        ]


class TestOneProductFailsAlone:
    async def test_a_nul_product_is_reported_and_the_others_imported(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        db_session: AsyncSession,
    ) -> None:
        rows = [product("first"), product("nul", Title="Bad\x00Title"), product("last")]

        response = await post_csv(client, admin, csv_text(*rows))

        job = response.json()
        assert (job["created"], job["failed"]) == (2, 1)
        assert job["errors"] == [
            {
                "line": 3,
                "handle": "nul",
                "message": "Title: contains a NUL character (\\x00), which cannot be stored",
            }
        ]
        assert await handles(db_session) == ["first", "last"]

    @pytest.mark.usefixtures("faulty_database")
    async def test_a_database_error_fails_its_product_only_inline(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        db_session: AsyncSession,
    ) -> None:
        rows = [product("first"), product("faulty"), product("last")]

        response = await post_csv(client, admin, csv_text(*rows))

        assert response.status_code == 200
        job = response.json()
        assert (job["status"], job["created"], job["failed"]) == ("completed", 2, 1)
        assert job["errors"] == [{"line": 3, "handle": "faulty", "message": DATABASE_ERROR}]
        assert SECRET not in response.text
        assert await handles(db_session) == ["first", "last"]

    @pytest.mark.usefixtures("faulty_database", "background")
    async def test_a_database_error_fails_its_product_only_in_a_job(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        db_session: AsyncSession,
    ) -> None:
        rows = [product("first"), product("faulty"), product("last")]

        response = await post_csv(client, admin, csv_text(*rows))

        assert response.status_code == 202
        await run_jobs(app)
        polled = await client.get(response.headers["Location"], headers=admin)
        job = polled.json()
        assert (job["status"], job["created"], job["failed"], job["error"]) == (
            "completed",
            2,
            1,
            None,
        )
        assert job["errors"] == [{"line": 3, "handle": "faulty", "message": DATABASE_ERROR}]
        assert SECRET not in polled.text
        assert await handles(db_session) == ["first", "last"]


class TestAFailedJob:
    @pytest.mark.usefixtures("background")
    async def test_says_so_without_the_exception_text(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
        db_session: AsyncSession,
    ) -> None:
        async def broken(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError(f"SELECT * FROM {SECRET} WHERE password = 'hunter2'")

        monkeypatch.setattr(jobs, "import_products", broken)

        response = await post_csv(client, admin, csv_text(product("first"), product("last")))
        await run_jobs(app)

        polled = await client.get(response.headers["Location"], headers=admin)
        job = polled.json()
        assert (job["status"], job["error"]) == ("failed", jobs.JOB_FAILED)
        assert SECRET not in polled.text
        assert "hunter2" not in polled.text
        assert await db_session.scalar(select(func.count()).select_from(Product)) == 0

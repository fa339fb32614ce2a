"""Products created at the same moment with the same title each get their own handle."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from shopdb.catalog.products import service
from shopdb.catalog.products.schemas import ProductCreate
from shopdb.db import Database
from shopdb.models import Product

pytestmark = pytest.mark.postgres_only


async def create(database: Database, title: str) -> str:
    async with database.session() as session:
        data = ProductCreate.model_validate({"title": title, "variants": [{"price": "5.00"}]})
        product = await service.create_product(session, data, actor="test")
        return product.handle


class TestConcurrentCreation:
    async def test_same_title_at_once_yields_distinct_generated_handles(
        self, live_postgres: Database
    ) -> None:
        handles = await asyncio.wait_for(
            asyncio.gather(*(create(live_postgres, "Rush Tee") for _ in range(8))), timeout=60
        )
        expected = {"rush-tee", *(f"rush-tee-{n}" for n in range(1, 8))}
        assert set(handles) == expected
        async with live_postgres.session() as session:
            stored = await session.scalars(
                select(Product.handle).where(Product.title == "Rush Tee")
            )
            assert set(stored) == expected

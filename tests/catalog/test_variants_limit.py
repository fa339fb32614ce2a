"""Shopify's 2,048 variants per product, on every path: create, PUT, and POST of one variant."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.errors import VariantLimitExceeded
from shopdb.catalog.products import service as products
from shopdb.catalog.products.schemas import ProductCreate
from shopdb.catalog.rules import MAX_VARIANTS
from shopdb.catalog.variants import service as variants
from shopdb.catalog.variants.schemas import VariantCreate
from shopdb.db import Database
from shopdb.models import ProductVariant
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent

SIZES = [f"S{n}" for n in range(16)]
COLORS = [f"C{n}" for n in range(16)]
FITS = [f"F{n}" for n in range(9)]  # 16 x 16 x 9 = 2,304 combinations: room for 2,049


def many_variants(count: int, *, sku_prefix: str = "V") -> dict[str, Any]:
    combos = list(itertools.islice(itertools.product(SIZES, COLORS, FITS), count))
    return {
        "title": "Configurable Shelf",
        "options": [
            {"name": "Size", "values": SIZES},
            {"name": "Color", "values": COLORS},
            {"name": "Fit", "values": FITS},
        ],
        "variants": [
            {
                "price": "9.00",
                "sku": f"{sku_prefix}-{n}",
                "option1": a,
                "option2": b,
                "option3": c,
            }
            for n, (a, b, c) in enumerate(combos)
        ],
    }


async def variant_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ProductVariant)) or 0)


def limit_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == "VARIANT_LIMIT_EXCEEDED"
    assert [d["field"] for d in body["details"]] == ["variants"]


class TestVariantLimit:
    async def test_2048_variants_are_created_in_a_bounded_number_of_queries_and_no_more_fit(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        backend: Backend,
        db_session: AsyncSession,
    ) -> None:
        small = many_variants(2, sku_prefix="SMALL")
        small["title"] = "Small Shelf"
        with statements_sent(backend.engine) as few:
            assert (await client.post("/api/v1/products", json=small, headers=admin)).is_success
        with statements_sent(backend.engine) as statements:
            response = await client.post(
                "/api/v1/products", json=many_variants(MAX_VARIANTS), headers=admin
            )

        assert response.status_code == 201, response.text
        product = response.json()
        assert len(product["variants"]) == 2048
        assert [v["position"] for v in product["variants"]] == list(range(1, 2049))
        # Handle, SKU and option checks are set-based: 2,046 more variants cost no more
        # SELECTs, not one per variant.
        checks = [s for s in statements if not s.lstrip().upper().startswith("INSERT")]
        assert len(checks) - len(few) < 10, checks
        if backend.name == "postgresql":
            # Inserts go in batches too where the driver allows it (SQLite gives no ordered
            # RETURNING for a batch, so SQLAlchemy inserts its rows one by one, in process).
            assert len(statements) - len(few) < 30, len(statements)

        # One more variant on a full product: 409, nothing written.
        extra = {"price": "1.00", "option1": "S15", "option2": "C15", "option3": "F8"}
        response = await client.post(
            f"/api/v1/products/{product['id']}/variants", json=extra, headers=admin
        )
        limit_error(response, 409)
        assert await variant_count(db_session) == 2048 + 2

        # Once one is deleted, there is room again.
        last = product["variants"][-1]["id"]
        assert (await client.delete(f"/api/v1/variants/{last}", headers=admin)).status_code == 204
        response = await client.post(
            f"/api/v1/products/{product['id']}/variants", json=extra, headers=admin
        )
        assert response.status_code == 201, response.text
        assert response.json()["position"] == 2048

    async def test_2049_variants_on_create_are_400_and_nothing_is_written(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        response = await client.post(
            "/api/v1/products", json=many_variants(MAX_VARIANTS + 1), headers=admin
        )
        limit_error(response, 400)
        assert "2049" in response.json()["message"]
        assert await variant_count(db_session) == 0

    async def test_2049_variants_in_a_put_are_400_and_change_nothing(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        created = await client.post("/api/v1/products", json=many_variants(3), headers=admin)
        product = created.json()
        body = {"variants": many_variants(MAX_VARIANTS + 1)["variants"]}

        response = await client.put(f"/api/v1/products/{product['id']}", json=body, headers=admin)

        limit_error(response, 400)
        after = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert after.json() == product
        assert after.headers["ETag"] == created.headers["ETag"]

    async def test_more_than_three_options_stay_refused(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        body = many_variants(1)
        body["options"].append({"name": "Finish", "values": ["Oak"]})
        response = await client.post("/api/v1/products", json=body, headers=admin)
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "options"


@pytest.mark.postgres_only
class TestConcurrentVariantCreation:
    async def test_concurrent_posts_never_pass_the_limit_and_positions_stay_contiguous(
        self, live_postgres: Database
    ) -> None:
        # Given a product two variants short of the limit.
        async with live_postgres.session() as session:
            data = ProductCreate.model_validate(many_variants(MAX_VARIANTS - 2, sku_prefix="RACE"))
            product_id = (await products.create_product(session, data, actor="test")).id
            await session.commit()

        async def add(n: int) -> str:
            async with live_postgres.session() as session:
                body = VariantCreate.model_validate(
                    {"price": "2.00", "option1": "S15", "option2": f"C{n}", "option3": "F8"}
                )
                try:
                    await variants.create_variant(session, product_id, body, actor="test")
                except VariantLimitExceeded:
                    return "refused"
                await session.commit()
                return "created"

        # When six requests add one each, at once.
        outcomes = await asyncio.wait_for(asyncio.gather(*(add(n) for n in range(6))), 120)

        # Then exactly two got in, and the positions are 1..2048.
        assert sorted(outcomes) == ["created"] * 2 + ["refused"] * 4
        async with live_postgres.session() as session:
            positions = list(
                await session.scalars(
                    select(ProductVariant.position)
                    .where(ProductVariant.product_id == product_id)
                    .order_by(ProductVariant.position)
                )
            )
        assert positions == list(range(1, MAX_VARIANTS + 1))

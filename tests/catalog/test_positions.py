"""Variant positions stay 1..n after inserts, moves and deletes, written set-based."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shopdb.catalog.products import service as products
from shopdb.catalog.products.schemas import ProductCreate
from shopdb.catalog.variants import service as variants
from shopdb.catalog.variants.schemas import VariantCreate, VariantUpdate
from shopdb.db import Database
from shopdb.models import ProductVariant
from tests.fixtures.catalog import Headers, ProductFactory
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent

SIZES = [f"S{n}" for n in range(12)]


async def sized_product(make_product: ProductFactory, count: int = 4) -> dict[str, Any]:
    return await make_product(
        options=[{"name": "Size", "values": SIZES}],
        variants=[{"price": "1", "option1": SIZES[n]} for n in range(count)],
    )


async def order(client: httpx.AsyncClient, admin: Headers, product_id: int) -> list[Any]:
    """(option1, position) of each variant, as the product lists them."""
    response = await client.get(f"/api/v1/products/{product_id}/variants", headers=admin)
    return [(v["option1"], v["position"]) for v in response.json()]


def variant_updates(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("UPDATE PRODUCT_VARIANTS")]


def engine_of(backend: Backend) -> AsyncEngine:
    return backend.engine


class TestInsert:
    async def test_a_variant_posted_at_a_position_shifts_the_rest_in_two_updates(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        backend: Backend,
    ) -> None:
        product = await sized_product(make_product, 10)
        neighbour = product["variants"][1]
        before = await client.get(f"/api/v1/variants/{neighbour['id']}", headers=admin)

        with statements_sent(engine_of(backend)) as statements:
            created = await client.post(
                f"/api/v1/products/{product['id']}/variants",
                json={"price": "2", "option1": "S11", "position": 2},
                headers=admin,
            )

        assert created.status_code == 201, created.text
        assert created.json()["position"] == 2
        expected = [("S0", 1), ("S11", 2)] + [(SIZES[n], n + 2) for n in range(1, 10)]
        assert await order(client, admin, product["id"]) == expected
        # Shifting nine variants is one set-based UPDATE (plus one that closes gaps, if any).
        assert len(variant_updates(statements)) <= 2, variant_updates(statements)
        # A shifted variant's ETag moves with its position.
        after = await client.get(f"/api/v1/variants/{neighbour['id']}", headers=admin)
        assert after.json()["position"] == 3
        assert after.headers["ETag"] != before.headers["ETag"]

    async def test_a_position_past_the_end_is_the_end(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await sized_product(make_product, 3)
        created = await client.post(
            f"/api/v1/products/{product['id']}/variants",
            json={"price": "2", "option1": "S9", "position": 50},
            headers=admin,
        )
        assert created.json()["position"] == 4
        assert await order(client, admin, product["id"]) == [
            ("S0", 1),
            ("S1", 2),
            ("S2", 3),
            ("S9", 4),
        ]


class TestMove:
    async def test_moves_up_and_down_keep_1_to_n(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        backend: Backend,
    ) -> None:
        product = await sized_product(make_product, 5)
        ids = [v["id"] for v in product["variants"]]

        with statements_sent(engine_of(backend)) as statements:
            up = await client.put(f"/api/v1/variants/{ids[3]}", json={"position": 1}, headers=admin)
        assert up.status_code == 200, up.text
        assert up.json()["position"] == 1
        assert await order(client, admin, product["id"]) == [
            ("S3", 1),
            ("S0", 2),
            ("S1", 3),
            ("S2", 4),
            ("S4", 5),
        ]
        assert len(variant_updates(statements)) <= 2, variant_updates(statements)

        down = await client.put(f"/api/v1/variants/{ids[3]}", json={"position": 4}, headers=admin)
        assert down.json()["position"] == 4
        assert await order(client, admin, product["id"]) == [
            ("S0", 1),
            ("S1", 2),
            ("S2", 3),
            ("S3", 4),
            ("S4", 5),
        ]

        # Past the end is the last place.
        last = await client.put(f"/api/v1/variants/{ids[0]}", json={"position": 99}, headers=admin)
        assert last.json()["position"] == 5
        assert [p for _, p in await order(client, admin, product["id"])] == [1, 2, 3, 4, 5]

    async def test_sending_the_same_position_writes_nothing(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await sized_product(make_product, 3)
        variant = product["variants"][1]
        before = await client.get(f"/api/v1/variants/{variant['id']}", headers=admin)
        same = await client.put(
            f"/api/v1/variants/{variant['id']}", json={"position": 2}, headers=admin
        )
        assert same.headers["ETag"] == before.headers["ETag"]


class TestDelete:
    async def test_the_variants_after_a_deleted_one_move_up(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        backend: Backend,
    ) -> None:
        product = await sized_product(make_product, 6)
        with statements_sent(engine_of(backend)) as statements:
            deleted = await client.delete(
                f"/api/v1/variants/{product['variants'][1]['id']}", headers=admin
            )
        assert deleted.status_code == 204
        assert await order(client, admin, product["id"]) == [
            ("S0", 1),
            ("S2", 2),
            ("S3", 3),
            ("S4", 4),
            ("S5", 5),
        ]
        assert len(variant_updates(statements)) == 1, variant_updates(statements)


class TestProductWrites:
    async def test_create_and_put_order_by_position_and_number_1_to_n(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product(
            options=[{"name": "Size", "values": SIZES}],
            variants=[
                {"price": "1", "option1": "S0", "position": 30},
                {"price": "1", "option1": "S1", "position": 10},
                {"price": "1", "option1": "S2"},
            ],
        )
        assert await order(client, admin, product["id"]) == [("S2", 1), ("S1", 2), ("S0", 3)]

        body = {
            "variants": [
                {"id": product["variants"][0]["id"], "option1": "S2", "position": 3},
                {"id": product["variants"][1]["id"], "option1": "S1", "position": 1},
                {"price": "4", "option1": "S7", "position": 1},
            ]
        }
        response = await client.put(f"/api/v1/products/{product['id']}", json=body, headers=admin)
        assert response.status_code == 200, response.text
        # Two ask for 1: the one listed first wins; the one asking for 3 ends last. The
        # variant left out (S0) is deleted.
        assert [(v["option1"], v["position"]) for v in response.json()["variants"]] == [
            ("S1", 1),
            ("S7", 2),
            ("S2", 3),
        ]


@pytest.mark.postgres_only
class TestConcurrentChanges:
    async def test_inserts_moves_and_deletes_at_once_leave_1_to_n(
        self, live_postgres: Database
    ) -> None:
        async with live_postgres.session() as session:
            data = ProductCreate.model_validate(
                {
                    "title": "Racing Sizes",
                    "options": [{"name": "Size", "values": SIZES}],
                    "variants": [{"price": "1", "option1": SIZES[n]} for n in range(8)],
                }
            )
            product = await products.create_product(session, data, actor="test")
            product_id, ids = product.id, [v.id for v in product.variants]
            await session.commit()

        async def run(change: Callable[[AsyncSession], Awaitable[object]]) -> None:
            async with live_postgres.session() as session:
                await change(session)
                await session.commit()

        def insert(size: str) -> Callable[[AsyncSession], Awaitable[object]]:
            body = VariantCreate.model_validate({"price": "2", "option1": size, "position": 1})
            return lambda s: variants.create_variant(s, product_id, body, actor="test")

        def move(variant_id: int, position: int) -> Callable[[AsyncSession], Awaitable[object]]:
            body = VariantUpdate.model_validate({"position": position})
            return lambda s: variants.update_variant(
                s, variant_id, body, if_match=None, actor="test"
            )

        def delete(variant_id: int) -> Callable[[AsyncSession], Awaitable[object]]:
            return lambda s: variants.delete_variant(s, variant_id, if_match=None, actor="test")

        changes = [
            insert("S8"),
            delete(ids[2]),
            move(ids[7], 1),
            insert("S9"),
            delete(ids[4]),
            move(ids[0], 6),
            insert("S10"),
            delete(ids[5]),
        ]
        await asyncio.wait_for(asyncio.gather(*(run(c) for c in changes)), 60)

        async with live_postgres.session() as session:
            rows = await session.execute(
                select(ProductVariant.option1, ProductVariant.position)
                .where(ProductVariant.product_id == product_id)
                .order_by(ProductVariant.position)
            )
            stored = [(row.option1, row.position) for row in rows]
        assert [position for _, position in stored] == list(range(1, 9))
        assert {size for size, _ in stored} == {"S0", "S1", "S3", "S6", "S7", "S8", "S9", "S10"}

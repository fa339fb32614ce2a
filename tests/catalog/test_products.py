from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, InventoryItem, InventoryLevel, Product, ProductTag, ProductVariant
from tests.fixtures.catalog import Headers, ProductFactory, TokenFactory, product_body


async def count(session: AsyncSession, model: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class TestCreateProduct:
    async def test_returns_detail_with_variant_and_inventory_item_ids(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        response = await client.post("/api/v1/products", json=product_body(), headers=admin)

        assert response.status_code == 201
        body = response.json()
        assert response.headers["ETag"] == '"1"'
        assert body["handle"] == "classic-tee"
        assert body["tags"] == "cotton, summer"
        assert [o["name"] for o in body["options"]] == ["Size", "Color"]
        assert body["options"][0]["values"] == ["S", "M"]
        assert [v["title"] for v in body["variants"]] == ["S / Black", "S / White", "M / Black"]
        assert [v["price"] for v in body["variants"]] == ["19.99", "19.99", "21.50"]
        assert all(isinstance(v["id"], int) for v in body["variants"])
        items = set(
            (
                await db_session.scalars(
                    select(InventoryItem.id).where(
                        InventoryItem.product_variant_id.in_([v["id"] for v in body["variants"]])
                    )
                )
            ).all()
        )
        assert {v["inventoryItemId"] for v in body["variants"]} == items
        assert len(items) == 3
        tags = await db_session.scalars(
            select(ProductTag.tag)
            .where(ProductTag.product_id == body["id"])
            .order_by(ProductTag.tag)
        )
        assert list(tags) == ["cotton", "summer"]
        fetched = await client.get(f"/api/v1/products/{body['id']}", headers=admin)
        assert fetched.json() == body

    async def test_product_without_options_gets_the_default_title_option(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        body = product_body(options=[], variants=[{"price": "5"}])
        response = await client.post("/api/v1/products", json=body, headers=admin)
        assert response.status_code == 201
        created = response.json()
        assert created["options"][0]["name"] == "Title"
        assert created["options"][0]["values"] == ["Default Title"]
        assert created["variants"][0]["option1"] == "Default Title"
        assert created["variants"][0]["title"] == "Default Title"
        assert created["variants"][0]["price"] == "5.00"

    async def test_generated_handles_are_made_unique(self, make_product: ProductFactory) -> None:
        first = await make_product("Summer Hat!")
        second = await make_product("Summer hat")
        third = await make_product("summer   HAT")
        assert [first["handle"], second["handle"], third["handle"]] == [
            "summer-hat",
            "summer-hat-1",
            "summer-hat-2",
        ]

    async def test_new_variants_are_stocked_at_the_default_location(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        db_session: AsyncSession,
    ) -> None:
        body = product_body(
            options=[{"name": "Size", "values": ["S", "M"]}],
            variants=[
                {"price": "1", "option1": "S", "inventoryQuantity": 7},
                {"price": "1", "option1": "M"},
            ],
        )
        response = await client.post("/api/v1/products", json=body, headers=admin)
        assert response.status_code == 201
        variants = response.json()["variants"]
        assert [v["inventoryQuantity"] for v in variants] == [7, 0]
        levels = await db_session.execute(
            select(InventoryLevel.inventory_item_id, InventoryLevel.available).where(
                InventoryLevel.location_id == location["id"]
            )
        )
        assert sorted(levels.all()) == sorted(
            [(variants[0]["inventoryItemId"], 7), (variants[1]["inventoryItemId"], 0)]
        )

    async def test_initial_stock_without_any_location_is_refused(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        body = product_body(options=[], variants=[{"price": "1", "inventoryQuantity": 3}])
        response = await client.post("/api/v1/products", json=body, headers=admin)
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "variants[0].inventoryQuantity"
        assert await count(db_session, Product) == 0

    async def test_records_a_create_event(
        self, make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        product = await make_product()
        event = await db_session.scalar(select(Event).where(Event.topic == "products/create"))
        assert event is not None
        assert event.subject_id == product["id"]
        assert event.body["variantIds"] == [v["id"] for v in product["variants"]]
        assert event.actor is not None
        assert event.actor.startswith("user:")


class TestCreateProductRefusals:
    async def test_duplicate_sku_in_database_is_a_conflict_naming_the_variant(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        first = product_body("A", options=[], variants=[{"price": "1", "sku": "SKU-1"}])
        assert (await client.post("/api/v1/products", json=first, headers=admin)).status_code == 201
        second = product_body("B", options=[], variants=[{"price": "1", "sku": "SKU-1"}])
        response = await client.post("/api/v1/products", json=second, headers=admin)
        assert response.status_code == 409
        assert response.json()["code"] == "SKU_TAKEN"
        assert response.json()["details"] == [
            {
                "field": "variants[0].sku",
                "message": "SKU 'SKU-1' is already used by another variant",
            }
        ]
        assert await count(db_session, Product) == 1

    async def test_duplicate_handle_is_a_conflict(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        await make_product("Hat")
        response = await client.post(
            "/api/v1/products", json=product_body("Other", handle="hat"), headers=admin
        )
        assert response.status_code == 409
        assert response.json()["code"] == "HANDLE_TAKEN"
        assert response.json()["details"] == [{"field": "handle", "message": "is already taken"}]
        assert await count(db_session, Product) == 1

    async def test_a_value_for_an_option_the_product_lacks_is_refused(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        body = product_body(options=[{"name": "Size", "values": ["S", "M"]}])
        body["variants"] = [{"price": "1", "option1": "S", "option2": "Purple"}]
        response = await client.post("/api/v1/products", json=body, headers=admin)
        assert response.status_code == 400
        assert response.json()["details"] == [
            {"field": "variants[0].option2", "message": "the product has only 1 option(s)"}
        ]
        assert await count(db_session, ProductVariant) == 0

    async def test_two_variants_with_the_same_options_are_refused(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        body = product_body()
        body["variants"][2] = {"price": "3", "option1": "S", "option2": "Black"}
        response = await client.post("/api/v1/products", json=body, headers=admin)
        assert response.status_code == 400
        assert response.json()["details"] == [
            {"field": "variants[2]", "message": "same options as variants[0]"}
        ]


class TestGetProduct:
    async def test_unknown_and_soft_deleted_products_are_404(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        assert (await client.get("/api/v1/products/999999", headers=admin)).status_code == 404
        deleted = await client.delete(f"/api/v1/products/{product['id']}", headers=admin)
        assert deleted.status_code == 204
        assert (
            await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        ).status_code == 404

    async def test_reading_needs_products_read(
        self, client: httpx.AsyncClient, token_for: TokenFactory, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        url = f"/api/v1/products/{product['id']}"
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, headers=token_for("orders:read"))).status_code == 403
        assert (await client.get(url, headers=token_for("products:read"))).status_code == 200

    async def test_deleting_needs_products_delete(
        self, client: httpx.AsyncClient, token_for: TokenFactory, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        url = f"/api/v1/products/{product['id']}"
        response = await client.delete(url, headers=token_for("products:read", "products:write"))
        assert response.status_code == 403
        assert (await client.get(url, headers=token_for("products:read"))).status_code == 200


class TestSoftDeleteReleasesNames:
    async def test_handle_and_skus_are_free_for_a_new_product_and_kept_in_the_event(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        old = await make_product(
            "Hat",
            handle="hat",
            options=[{"name": "Size", "values": ["S", "M"]}],
            variants=[
                {"price": "5", "option1": "S", "sku": "HAT-S"},
                {"price": "5", "option1": "M"},
            ],
        )
        small, medium = old["variants"]

        deleted = await client.delete(f"/api/v1/products/{old['id']}", headers=admin)

        assert deleted.status_code == 204
        assert (await client.get(f"/api/v1/products/{old['id']}", headers=admin)).status_code == 404
        assert (
            await client.get(f"/api/v1/variants/{small['id']}", headers=admin)
        ).status_code == 404
        # The same handle and SKU now work for a new product.
        new = await client.post(
            "/api/v1/products",
            json=product_body(
                "Hat",
                handle="hat",
                options=[],
                variants=[{"price": "7", "sku": "HAT-S"}],
            ),
            headers=admin,
        )
        assert new.status_code == 201, new.text
        assert (new.json()["handle"], new.json()["variants"][0]["sku"]) == ("hat", "HAT-S")
        assert (await client.get(f"/api/v1/products/{old['id']}", headers=admin)).status_code == 404
        # The deleted rows carry marked names; the originals are in the delete event.
        stored = await db_session.get(Product, old["id"])
        assert stored is not None
        assert stored.handle == f"hat--deleted-{old['id']}"
        rows = await db_session.execute(
            select(ProductVariant.id, ProductVariant.sku).where(
                ProductVariant.product_id == old["id"]
            )
        )
        skus = {row.id: row.sku for row in rows}
        assert skus == {small["id"]: f"HAT-S--deleted-{small['id']}", medium["id"]: None}
        item_sku = await db_session.scalar(
            select(InventoryItem.sku).where(InventoryItem.product_variant_id == small["id"])
        )
        assert item_sku == f"HAT-S--deleted-{small['id']}"
        event = await db_session.scalar(
            select(Event).where(Event.topic == "products/delete", Event.subject_id == old["id"])
        )
        assert event is not None
        assert event.body["handle"] == "hat"
        assert event.body["releasedHandle"] == f"hat--deleted-{old['id']}"
        assert event.body["variants"] == [
            {"id": small["id"], "sku": "HAT-S", "releasedSku": f"HAT-S--deleted-{small['id']}"},
            {"id": medium["id"], "sku": None, "releasedSku": None},
        ]

    async def test_a_generated_handle_is_the_plain_one_again(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        old = await make_product("Summer Hat")
        assert (await client.delete(f"/api/v1/products/{old['id']}", headers=admin)).is_success
        new = await make_product("Summer Hat")
        assert new["handle"] == old["handle"] == "summer-hat"

    async def test_long_names_are_cut_to_fit_255_characters(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        old = await make_product(
            handle="h" * 255, options=[], variants=[{"price": "1", "sku": "S" * 255}]
        )
        assert (await client.delete(f"/api/v1/products/{old['id']}", headers=admin)).is_success
        stored = await db_session.get(Product, old["id"])
        sku = await db_session.scalar(
            select(ProductVariant.sku).where(ProductVariant.product_id == old["id"])
        )
        assert stored is not None
        assert sku is not None
        mark, sku_mark = f"--deleted-{old['id']}", f"--deleted-{old['variants'][0]['id']}"
        assert stored.handle == "h" * (255 - len(mark)) + mark
        assert sku == "S" * (255 - len(sku_mark)) + sku_mark
        again = await make_product(
            "Again", handle="h" * 255, options=[], variants=[{"price": "1", "sku": "S" * 255}]
        )
        assert again["handle"] == "h" * 255

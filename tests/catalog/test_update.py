from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, InventoryItem, InventoryLevel, Product, ProductTag
from tests.fixtures.catalog import Headers, ProductFactory


async def event_ids(session: AsyncSession) -> list[int]:
    return list(await session.scalars(select(Event.id).order_by(Event.id)))


async def put(
    client: httpx.AsyncClient,
    headers: Headers,
    product: dict[str, Any],
    body: dict[str, Any],
    etag: str | None = None,
) -> httpx.Response:
    extra = {"If-Match": etag} if etag else {}
    return await client.put(
        f"/api/v1/products/{product['id']}", json=body, headers={**headers, **extra}
    )


class TestOptimisticConcurrency:
    async def test_stale_if_match_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        first = await put(client, admin, product, {"title": "Renamed"}, etag='"1"')
        assert first.status_code == 200
        assert first.headers["ETag"] == '"2"'

        stale = await put(client, admin, product, {"title": "Lost update"}, etag='"1"')

        assert stale.status_code == 412
        assert stale.json()["code"] == "PRECONDITION_FAILED"
        current = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert current.json()["title"] == "Renamed"
        assert current.headers["ETag"] == '"2"'

    async def test_weak_and_wildcard_tags_match(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        assert (await put(client, admin, product, {"vendor": "A"}, 'W/"1"')).status_code == 200
        assert (await put(client, admin, product, {"vendor": "B"}, "*")).status_code == 200

    async def test_variant_only_change_still_moves_the_etag(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        variants = [{"id": v["id"], "price": "30.00"} for v in product["variants"]]
        for v, src in zip(variants, product["variants"], strict=True):
            v.update(option1=src["option1"], option2=src["option2"])
        response = await put(client, admin, product, {"variants": variants}, '"1"')
        assert response.status_code == 200
        assert response.headers["ETag"] == '"2"'
        assert [v["price"] for v in response.json()["variants"]] == ["30.00"] * 3


class TestUnchangedWrites:
    async def test_sending_back_what_was_read_changes_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        await put(client, admin, product, {"title": "Renamed"})  # version 2: not a fresh row
        read = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        events_before = await event_ids(db_session)

        response = await put(client, admin, product, read.json(), etag=read.headers["ETag"])

        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == read.headers["ETag"] == '"2"'
        assert response.json() == read.json()
        assert await event_ids(db_session) == events_before

    async def test_resending_active_does_not_publish_an_unpublished_product(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        stored = await db_session.get(Product, product["id"])
        assert stored is not None
        stored.published_at = None  # unpublished while active (Published FALSE in a CSV)
        await db_session.flush()
        read = await client.get(f"/api/v1/products/{product['id']}", headers=admin)

        response = await put(client, admin, product, {"status": "active"}, read.headers["ETag"])

        assert response.status_code == 200
        assert response.json()["publishedAt"] is None
        assert response.headers["ETag"] == read.headers["ETag"]

    async def test_an_unchanged_variant_put_keeps_its_etag(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        url = f"/api/v1/variants/{product['variants'][0]['id']}"
        read = await client.get(url, headers=admin)
        events_before = await event_ids(db_session)

        response = await client.put(
            url, json=read.json(), headers={**admin, "If-Match": read.headers["ETag"]}
        )

        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == read.headers["ETag"]
        assert response.json() == read.json()
        assert await event_ids(db_session) == events_before
        detail = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert detail.headers["ETag"] == '"1"'


class TestReplaceVariants:
    async def test_variants_matched_by_options_keep_ids_and_stock(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        s_black = product["variants"][0]
        adjust = await client.post(
            "/api/v1/inventory-levels/adjust",
            json={
                "inventoryItemId": s_black["inventoryItemId"],
                "locationId": location["id"],
                "availableAdjustment": 5,
            },
            headers=admin,
        )
        assert adjust.status_code == 200

        # Options grow a value; S/Black is sent without an id, S/White is dropped, L/Black is new.
        body = {
            "options": [
                {"name": "Size", "values": ["S", "M", "L"]},
                {"name": "Color", "values": ["Black", "White"]},
            ],
            "variants": [
                {"price": "25.00", "option1": "S", "option2": "Black"},
                {"id": product["variants"][2]["id"], "option1": "M", "option2": "Black"},
                {"price": "27.00", "option1": "L", "option2": "Black", "sku": "L-BLK"},
            ],
        }
        response = await put(client, admin, product, body)

        assert response.status_code == 200, response.text
        variants = response.json()["variants"]
        assert [v["title"] for v in variants] == ["S / Black", "M / Black", "L / Black"]
        assert variants[0]["id"] == s_black["id"]
        assert variants[0]["inventoryItemId"] == s_black["inventoryItemId"]
        assert variants[0]["inventoryQuantity"] == 5
        assert variants[0]["price"] == "25.00"
        assert variants[1]["id"] == product["variants"][2]["id"]
        assert variants[1]["price"] == "21.50"
        assert variants[2]["id"] not in {v["id"] for v in product["variants"]}
        assert response.json()["options"][0]["values"] == ["S", "M", "L"]
        dropped_item = product["variants"][1]["inventoryItemId"]
        assert await db_session.get(InventoryItem, dropped_item) is None
        level = await db_session.scalar(
            select(InventoryLevel.available).where(
                InventoryLevel.inventory_item_id == s_black["inventoryItemId"]
            )
        )
        assert level == 5

    async def test_a_sku_can_move_from_a_dropped_variant_to_a_new_one(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product(
            options=[{"name": "Size", "values": ["S", "M"]}],
            variants=[{"price": "1", "option1": "S", "sku": "SHARED"}],
        )
        body = {"variants": [{"price": "1", "option1": "M", "sku": "SHARED"}]}
        response = await put(client, admin, product, body)
        assert response.status_code == 200, response.text
        assert response.json()["variants"][0]["sku"] == "SHARED"
        assert response.json()["variants"][0]["option1"] == "M"

    async def test_options_that_no_longer_fit_the_variants_are_refused(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        body = {
            "options": [
                {"name": "Size", "values": ["S"]},
                {"name": "Color", "values": ["Black", "White"]},
            ]
        }
        response = await put(client, admin, product, body)
        assert response.status_code == 400
        assert response.json()["details"] == [
            {"field": "variants[2].option1", "message": "'M' is not a value of option 'Size'"}
        ]
        unchanged = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert unchanged.json()["options"][0]["values"] == ["S", "M"]
        assert unchanged.headers["ETag"] == '"1"'

    async def test_an_id_of_another_product_is_refused(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product("One")
        other = await make_product("Two")
        body = {
            "variants": [{"id": other["variants"][0]["id"], "option1": "S", "option2": "Black"}]
        }
        response = await put(client, admin, product, body)
        assert response.status_code == 400
        assert response.json()["details"][0] == {
            "field": "variants[0].id",
            "message": "is not a variant of this product",
        }

    async def test_tags_are_mirrored_into_product_tags(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        response = await put(client, admin, product, {"tags": "summer, Linen,linen ,  "})
        assert response.status_code == 200
        assert response.json()["tags"] == "summer, Linen"
        tags = await db_session.scalars(
            select(ProductTag.tag)
            .where(ProductTag.product_id == product["id"])
            .order_by(ProductTag.tag)
        )
        assert list(tags) == ["Linen", "summer"]
        event = await db_session.scalar(select(Event).where(Event.topic == "products/update"))
        assert event is not None
        assert event.subject_id == product["id"]


class TestVariantsEndpoints:
    async def test_add_update_and_delete_a_variant(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        created = await client.post(
            f"/api/v1/products/{product['id']}/variants",
            json={"price": "9.50", "option1": "M", "option2": "White", "sku": "M-WHT"},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        variant = created.json()
        assert variant["title"] == "M / White"
        assert variant["position"] == 4
        assert variant["inventoryItemId"] is not None

        updated = await client.put(
            f"/api/v1/variants/{variant['id']}",
            json={"compareAtPrice": "12.00", "weight": "0.25", "weightUnit": "lb"},
            headers={**admin, "If-Match": created.headers["ETag"]},
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["compareAtPrice"] == "12.00"
        assert updated.json()["weight"] == "0.25"
        assert updated.json()["price"] == "9.50"

        stale = await client.put(
            f"/api/v1/variants/{variant['id']}",
            json={"price": "1"},
            headers={**admin, "If-Match": created.headers["ETag"]},
        )
        assert stale.status_code == 412

        listed = await client.get(f"/api/v1/products/{product['id']}/variants", headers=admin)
        assert [v["id"] for v in listed.json()][-1] == variant["id"]
        deleted = await client.delete(f"/api/v1/variants/{variant['id']}", headers=admin)
        assert deleted.status_code == 204
        assert (
            await client.get(f"/api/v1/variants/{variant['id']}", headers=admin)
        ).status_code == 404

    async def test_duplicate_option_combination_is_refused(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        response = await client.post(
            f"/api/v1/products/{product['id']}/variants",
            json={"price": "9.50", "option1": "S", "option2": "Black"},
            headers=admin,
        )
        assert response.status_code == 400
        assert response.json()["details"] == [
            {"field": "variant", "message": "same options as variants[0]"}
        ]

    async def test_the_last_variant_cannot_be_deleted(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product(options=[], variants=[{"price": "1"}])
        response = await client.delete(
            f"/api/v1/variants/{product['variants'][0]['id']}", headers=admin
        )
        assert response.status_code == 409
        assert response.json()["code"] == "LAST_VARIANT"
        assert response.json()["details"] == [
            {"field": "id", "message": "is the product's only variant"}
        ]
        assert (
            await client.get(f"/api/v1/variants/{product['variants'][0]['id']}", headers=admin)
        ).status_code == 200


class TestConflictsNameTheirField:
    async def test_a_taken_handle_on_put_is_handle_taken(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        await make_product("Hat")
        product = await make_product("Cap")

        response = await put(client, admin, product, {"handle": "hat", "title": "Renamed"})

        assert response.status_code == 409
        assert response.json()["code"] == "HANDLE_TAKEN"
        assert response.json()["details"] == [{"field": "handle", "message": "is already taken"}]
        current = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert (current.json()["handle"], current.json()["title"]) == ("cap", "Cap")
        assert current.headers["ETag"] == '"1"'

    async def test_a_taken_sku_on_put_names_the_variant(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        await make_product("Hat", options=[], variants=[{"price": "1", "sku": "HAT"}])
        product = await make_product("Cap", options=[], variants=[{"price": "1", "sku": "CAP"}])

        response = await put(client, admin, product, {"variants": [{"sku": "HAT"}]})

        assert response.status_code == 409
        assert response.json()["code"] == "SKU_TAKEN"
        assert response.json()["details"] == [
            {"field": "variants[0].sku", "message": "SKU 'HAT' is already used by another variant"}
        ]
        current = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert current.json()["variants"][0]["sku"] == "CAP"

    async def test_a_taken_sku_on_a_variant_names_sku(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        await make_product("Hat", options=[], variants=[{"price": "1", "sku": "HAT"}])
        product = await make_product()
        variant_url = f"/api/v1/variants/{product['variants'][0]['id']}"

        created = await client.post(
            f"/api/v1/products/{product['id']}/variants",
            json={"price": "9.50", "option1": "M", "option2": "White", "sku": "HAT"},
            headers=admin,
        )
        updated = await client.put(variant_url, json={"sku": "HAT"}, headers=admin)

        for refused in (created, updated):
            assert refused.status_code == 409
            assert refused.json()["code"] == "SKU_TAKEN"
            assert refused.json()["details"] == [
                {"field": "sku", "message": "SKU 'HAT' is already used by another variant"}
            ]
        listed = await client.get(f"/api/v1/products/{product['id']}/variants", headers=admin)
        assert [v["sku"] for v in listed.json()] == [None, None, None]

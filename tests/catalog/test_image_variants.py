"""An image belongs to several variants (Shopify's `variant_ids`), a variant to one image."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shopdb.db import create_engine
from shopdb.schema import downgrade, upgrade
from tests.catalog.test_documents import assert_document_matches_models
from tests.catalog.test_images import png
from tests.fixtures.catalog import Headers, ProductFactory
from tests.fixtures.database import (
    BACKENDS,
    Backend,
    drop_postgres_database,
    fresh_database_url,
)
from tests.fixtures.database import test_settings as make_settings


def images_url(product: dict[str, Any], image_id: int | None = None) -> str:
    url = f"/api/v1/products/{product['id']}/images"
    return url if image_id is None else f"{url}/{image_id}"


async def upload(
    client: httpx.AsyncClient, headers: Headers, product: dict[str, Any], **form: Any
) -> httpx.Response:
    return await client.post(
        images_url(product),
        files={"file": ("p.png", png(), "image/png")},
        data=form,
        headers=headers,
    )


async def variant_ids_of(
    client: httpx.AsyncClient, headers: Headers, product: dict[str, Any]
) -> dict[int, list[int]]:
    """Image id -> variantIds, as the product detail and the list both show them."""
    detail = (await client.get(f"/api/v1/products/{product['id']}", headers=headers)).json()
    listed = (await client.get("/api/v1/products", headers=headers)).json()["items"]
    assert [p for p in listed if p["id"] == product["id"]] == [detail]
    for image in detail["images"]:
        ids = image["variantIds"]
        assert image["variantId"] == (ids[0] if ids else None)
    return {i["id"]: i["variantIds"] for i in detail["images"]}


class TestVariantIds:
    async def test_an_image_is_shown_for_several_variants(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        v1, v2, v3 = (v["id"] for v in product["variants"])
        uploaded = await upload(client, admin, product, variantIds=[str(v3), str(v1)])
        assert uploaded.status_code == 201, uploaded.text
        image = uploaded.json()
        assert (image["variantIds"], image["variantId"]) == ([v1, v3], v1)
        linked = await client.post(
            images_url(product),
            json={"src": "https://cdn.example.com/back.png", "variantIds": [v2]},
            headers=admin,
        )
        assert linked.status_code == 201, linked.text
        assert linked.json()["variantIds"] == [v2]

        assert await variant_ids_of(client, admin, product) == {
            image["id"]: [v1, v3],
            linked.json()["id"]: [v2],
        }

    async def test_setting_them_replaces_them_and_takes_them_from_other_images(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        v1, v2, v3 = (v["id"] for v in product["variants"])
        first = (await upload(client, admin, product, variantIds=[str(v1), str(v2)])).json()
        second = (await upload(client, admin, product)).json()

        # A variant has one image: giving it to `second` takes it from `first`.
        moved = await client.put(
            images_url(product, second["id"]), json={"variantIds": [v2, v3, v3]}, headers=admin
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["variantIds"] == [v2, v3]
        assert await variant_ids_of(client, admin, product) == {
            first["id"]: [v1],
            second["id"]: [v2, v3],
        }

        # The single variantId still works: [variantId]; null or [] removes them all.
        single = await client.put(
            images_url(product, first["id"]), json={"variantId": v3}, headers=admin
        )
        assert single.json()["variantIds"] == [v3]
        assert await variant_ids_of(client, admin, product) == {
            first["id"]: [v3],
            second["id"]: [v2],
        }
        cleared = await client.put(
            images_url(product, first["id"]), json={"variantId": None}, headers=admin
        )
        assert cleared.json()["variantIds"] == []
        emptied = await client.put(
            images_url(product, second["id"]), json={"variantIds": []}, headers=admin
        )
        assert (emptied.json()["variantIds"], emptied.json()["variantId"]) == ([], None)
        # Other fields leave them alone.
        kept = await client.put(
            images_url(product, second["id"]), json={"variantIds": [v1]}, headers=admin
        )
        assert kept.status_code == 200
        alt = await client.put(
            images_url(product, second["id"]), json={"alt": "Back"}, headers=admin
        )
        assert alt.json()["variantIds"] == [v1]

    async def test_a_deleted_variant_leaves_its_images(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        product = await make_product()
        v1, v2, _ = (v["id"] for v in product["variants"])
        image = (await upload(client, admin, product, variantIds=[str(v1), str(v2)])).json()

        deleted = await client.delete(f"/api/v1/variants/{v1}", headers=admin)

        assert deleted.status_code == 204, deleted.text
        assert await variant_ids_of(client, admin, product) == {image["id"]: [v2]}
        again = await client.get(images_url(product, image["id"]), headers=admin)
        assert (again.json()["variantIds"], again.json()["variantId"]) == ([v2], v2)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"variantIds": ["{v1}", "{other}"]}, "variantIds[1]"),
            ({"variantIds": ["{v1}", 0]}, "variantIds[1]"),
            ({"variantIds": "{v1}"}, "variantIds"),
            ({"variantId": "{other}"}, "variantId"),
            ({"variantIds": ["{v1}"], "variantId": "{v1}"}, "variantId"),
        ],
    )
    async def test_each_variant_must_be_the_products(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        body: dict[str, Any],
        field: str,
    ) -> None:
        product = await make_product()
        other = await make_product("Other", handle="other")
        ids = {"v1": product["variants"][0]["id"], "other": other["variants"][0]["id"]}

        def filled(value: Any) -> Any:
            if isinstance(value, list):
                return [filled(v) for v in value]
            if isinstance(value, str):
                return int(value.format(**ids))
            return value

        sent = {key: filled(value) for key, value in body.items()}
        if field == "variantIds" and isinstance(sent["variantIds"], int):
            sent["variantIds"] = str(sent["variantIds"])  # not a list
        image = (await upload(client, admin, product)).json()
        for response in (
            await client.put(images_url(product, image["id"]), json=sent, headers=admin),
            await client.post(
                images_url(product),
                json={"src": "https://cdn.example.com/a.png", **sent},
                headers=admin,
            ),
        ):
            assert response.status_code == 400, response.text
            assert [d["field"] for d in response.json()["details"]] == [field]
        assert await variant_ids_of(client, admin, product) == {image["id"]: []}

    async def test_an_upload_names_the_bad_variant_by_its_index(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        other = await make_product("Other", handle="other")
        v1 = product["variants"][0]["id"]
        response = await upload(
            client, admin, product, variantIds=[str(v1), str(other["variants"][0]["id"])]
        )
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "variantIds[1]"
        assert await variant_ids_of(client, admin, product) == {}

    async def test_the_postgresql_document_shows_them_like_the_models(
        self,
        backend: Backend,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        if backend.name != "postgresql":
            pytest.skip("JSON documents are built by PostgreSQL; SQLite uses the models directly")
        product = await make_product()
        v1, v2, v3 = (v["id"] for v in product["variants"])
        await upload(client, admin, product, variantIds=[str(v3), str(v1)])
        await upload(client, admin, product)
        await upload(client, admin, product, variantIds=[str(v2)])
        await assert_document_matches_models(db_session, product["id"])


@pytest.fixture(params=BACKENDS)
async def empty_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    url = await fresh_database_url(request.param, tmp_path, "imgvariants")
    settings = make_settings(url, tmp_path)
    engine = create_engine(settings.database_url, settings)
    try:
        yield engine
    finally:
        await engine.dispose()
        if request.param == "postgresql":
            await drop_postgres_database(settings.database_url)


class TestMigration:
    async def test_each_images_variant_becomes_a_link_and_comes_back(
        self, empty_engine: AsyncEngine
    ) -> None:
        await upgrade(empty_engine, "0010_catalog_fidelity")
        async with empty_engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO products (id, title, handle, status) "
                    "VALUES (1, 'Tee', 'tee', 'active')"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO product_variants (id, product_id, title, price, position) "
                    "VALUES (10, 1, 'S', 1, 1), (11, 1, 'M', 1, 2)"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO product_images (id, product_id, variant_id, position, src) "
                    "VALUES (100, 1, 11, 1, 'a'), (101, 1, NULL, 2, 'b'), (102, 1, 10, 3, 'c')"
                )
            )

        await upgrade(empty_engine)

        async with empty_engine.connect() as connection:
            links = await connection.execute(
                text("SELECT image_id, variant_id FROM product_image_variants ORDER BY image_id")
            )
            assert [tuple(r) for r in links] == [(100, 11), (102, 10)]
            statuses = await connection.execute(text("SELECT DISTINCT status FROM product_images"))
            assert [r[0] for r in statuses] == ["ready"]
            await connection.execute(
                text("INSERT INTO product_image_variants (image_id, variant_id) VALUES (100, 10)")
            )
            await connection.commit()
            # Deleting a variant takes its links (and only them) with it.
            await connection.execute(text("DELETE FROM product_variants WHERE id = 11"))
            await connection.commit()
            left = await connection.execute(
                text("SELECT image_id, variant_id FROM product_image_variants ORDER BY image_id")
            )
            assert [tuple(r) for r in left] == [(100, 10), (102, 10)]

        await downgrade(empty_engine, "0010_catalog_fidelity")

        async with empty_engine.connect() as connection:
            back = await connection.execute(
                text("SELECT id, variant_id FROM product_images ORDER BY id")
            )
            assert [tuple(r) for r in back] == [(100, 10), (101, None), (102, 10)]

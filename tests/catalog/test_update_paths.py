"""A product PUT decides from plain rows whether it changes the product's variants, options or
tag rows (products/service.py `_replace`, structure.py `kept_as_stored`): a PUT that does not
writes the product's row alone, without loading the ORM graph; any other takes the full
replacement. Both must give what the full replacement always gave."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from bench.fixtures import update_body
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.products.repository import (
    ProductRepository,
    StoredOption,
    StoredStructure,
    StoredVariant,
)
from shopdb.catalog.products.schemas import OptionInput, ProductUpdate, VariantReplace
from shopdb.catalog.products.structure import kept_as_stored
from shopdb.models import (
    Event,
    InventoryItem,
    OptionValue,
    ProductOption,
    ProductTag,
    ProductVariant,
)
from tests.fixtures.catalog import Headers, ProductFactory

PRODUCTS = "/api/v1/products"
Body = dict[str, Any]


async def read(client: httpx.AsyncClient, headers: Headers, product_id: int) -> httpx.Response:
    response = await client.get(f"{PRODUCTS}/{product_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response


async def put_edited(
    client: httpx.AsyncClient, headers: Headers, product_id: int, edit: Callable[[Body], None]
) -> tuple[httpx.Response, httpx.Response]:
    """PUT the product as GET shows it (bench/fixtures.py's body), edited; (the PUT's response,
    a GET after it)."""
    before = await read(client, headers, product_id)
    body = update_body(before.json(), before.json()["title"])
    edit(body)
    response = await client.put(
        f"{PRODUCTS}/{product_id}",
        json=body,
        headers={**headers, "If-Match": before.headers["ETag"]},
    )
    return response, await read(client, headers, product_id)


async def child_rows(session: AsyncSession, product_id: int) -> list[tuple[Any, ...]]:
    """Every row below the product, with the columns a rewrite would move."""
    variants = await session.execute(
        select(ProductVariant.id, ProductVariant.version, ProductVariant.updated_at)
        .where(ProductVariant.product_id == product_id)
        .order_by(ProductVariant.id)
    )
    items = await session.execute(
        select(InventoryItem.id, InventoryItem.sku, InventoryItem.updated_at)
        .join(ProductVariant, ProductVariant.id == InventoryItem.product_variant_id)
        .where(ProductVariant.product_id == product_id)
        .order_by(InventoryItem.id)
    )
    values = await session.execute(
        select(OptionValue.id, OptionValue.position, OptionValue.updated_at)
        .join(ProductOption, ProductOption.id == OptionValue.product_option_id)
        .where(ProductOption.product_id == product_id)
        .order_by(OptionValue.id)
    )
    tags = await session.execute(
        select(ProductTag.id, ProductTag.tag)
        .where(ProductTag.product_id == product_id)
        .order_by(ProductTag.id)
    )
    return [tuple(row) for result in (variants, items, values, tags) for row in result]


def with_skus(*skus: str) -> list[Body]:
    combos = [("S", "Black"), ("S", "White"), ("M", "Black")]
    return [
        {"price": "19.99", "sku": sku, "option1": size, "option2": color}
        for sku, (size, color) in zip(skus, combos, strict=True)
    ]


class TestADescriptionEdit:
    async def test_writes_the_product_alone_and_answers_as_get(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product(variants=with_skus("A-1", "A-2", "A-3"))
        rows_before = await child_rows(db_session, product["id"])

        def edit(body: Body) -> None:
            body["bodyHtml"] = "<p>Edited.</p>"

        response, after = await put_edited(client, admin, product["id"], edit)

        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == after.headers["ETag"] == '"2"'
        assert response.json() == after.json()
        assert after.json()["bodyHtml"] == "<p>Edited.</p>"
        assert await child_rows(db_session, product["id"]) == rows_before
        event = await db_session.scalar(
            select(Event)
            .where(Event.topic == "products/update", Event.subject_id == product["id"])
            .order_by(Event.id.desc())
        )
        assert event is not None
        assert event.body == {
            "id": product["id"],
            "title": product["title"],
            "handle": product["handle"],
            "status": product["status"],
            "variantIds": [v["id"] for v in product["variants"]],
        }

    async def test_of_a_product_without_options_or_tags(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product(
            options=[], tags=None, variants=[{"price": "5.00", "sku": "LONE"}]
        )

        def edit(body: Body) -> None:
            body["bodyHtml"] = "<p>Alone.</p>"

        response, after = await put_edited(client, admin, product["id"], edit)

        assert response.status_code == 200, response.text
        assert response.json() == after.json()
        assert after.json()["bodyHtml"] == "<p>Alone.</p>"
        assert after.json()["variants"][0]["id"] == product["variants"][0]["id"]


def _variant(index: int, **fields: Any) -> Callable[[Body], None]:
    def edit(body: Body) -> None:
        body["variants"][index].update(fields)

    return edit


def _reorder_variants(body: Body) -> None:
    body["variants"].reverse()


def _reverse_option_values(body: Body) -> None:
    body["options"][0]["values"].reverse()


def _rename_option(body: Body) -> None:
    body["options"][1]["name"] = "Colour"


def _drop_a_variant(body: Body) -> None:
    body["variants"].pop()


def _add_a_variant(body: Body) -> None:
    body["variants"].append({"price": "9.00", "option1": "M", "option2": "White"})


def _retag(body: Body) -> None:
    body["tags"] = "cotton, winter"


def _swap_skus(body: Body) -> None:
    first, second = body["variants"][0], body["variants"][1]
    first["sku"], second["sku"] = second["sku"], first["sku"]


# (edit of the GET body, what the product shows after it)
EDITS: dict[str, tuple[Callable[[Body], None], Callable[[Body], object], object]] = {
    "price": (_variant(0, price="25.00"), lambda d: d["variants"][0]["price"], "25.00"),
    "compare_at_price": (
        _variant(1, compareAtPrice="30.00"),
        lambda d: d["variants"][1]["compareAtPrice"],
        "30.00",
    ),
    "sku": (_variant(2, sku="B-9"), lambda d: d["variants"][2]["sku"], "B-9"),
    "barcode": (_variant(0, barcode="0123"), lambda d: d["variants"][0]["barcode"], "0123"),
    "weight": (
        _variant(0, weight="0.5", weightUnit="lb"),
        lambda d: (d["variants"][0]["weight"], d["variants"][0]["weightUnit"]),
        ("0.50", "lb"),
    ),
    "inventory_policy": (
        _variant(1, inventoryPolicy="continue"),
        lambda d: d["variants"][1]["inventoryPolicy"],
        "continue",
    ),
    "taxable": (_variant(2, taxable=False), lambda d: d["variants"][2]["taxable"], False),
    "variant order": (
        _reorder_variants,
        lambda d: [v["sku"] for v in d["variants"]],
        ["A-3", "A-2", "A-1"],
    ),
    "option values order": (
        _reverse_option_values,
        lambda d: d["options"][0]["values"],
        ["M", "S"],
    ),
    "option name": (_rename_option, lambda d: d["options"][1]["name"], "Colour"),
    "a variant dropped": (
        _drop_a_variant,
        lambda d: [v["sku"] for v in d["variants"]],
        ["A-1", "A-2"],
    ),
    "a variant added": (
        _add_a_variant,
        lambda d: [(v["option1"], v["option2"]) for v in d["variants"]][-1],
        ("M", "White"),
    ),
    "tags": (_retag, lambda d: d["tags"], "cotton, winter"),
    "skus swapped": (
        _swap_skus,
        lambda d: [v["sku"] for v in d["variants"]],
        ["A-2", "A-1", "A-3"],
    ),
}


class TestAnyOtherChangeIsWritten:
    @pytest.mark.parametrize("name", list(EDITS))
    async def test_and_the_answer_is_the_product_as_get_shows_it(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        name: str,
    ) -> None:
        edit, shown, expected = EDITS[name]
        product = await make_product(variants=with_skus("A-1", "A-2", "A-3"))

        def edit_with_description(body: Body) -> None:
            body["bodyHtml"] = "<p>Edited.</p>"
            edit(body)

        response, after = await put_edited(client, admin, product["id"], edit_with_description)

        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == after.headers["ETag"] != '"1"'
        assert response.json() == after.json()
        assert shown(after.json()) == expected
        assert after.json()["bodyHtml"] == "<p>Edited.</p>"

    async def test_a_cost_reaches_the_inventory_item(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product(variants=with_skus("A-1", "A-2", "A-3"))

        response, _ = await put_edited(client, admin, product["id"], _variant(0, cost="4.25"))

        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == '"2"'
        cost = await db_session.scalar(
            select(InventoryItem.cost).where(
                InventoryItem.product_variant_id == product["variants"][0]["id"]
            )
        )
        assert cost == Decimal("4.25")

    async def test_a_different_stock_count_is_still_refused(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()

        response, after = await put_edited(
            client, admin, product["id"], _variant(0, inventoryQuantity=7)
        )

        assert response.status_code == 400, response.text
        assert response.json()["details"][0]["field"] == "variants[0].inventoryQuantity"
        assert after.headers["ETag"] == '"1"'


class TestRowsOutOfStepAreRepaired:
    """What the full replacement always set right, a description edit still does."""

    async def test_an_inventory_item_sku_that_differs_from_its_variant(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product(variants=with_skus("A-1", "A-2", "A-3"))
        variant_id = product["variants"][0]["id"]
        await db_session.execute(
            update(InventoryItem)
            .where(InventoryItem.product_variant_id == variant_id)
            .values(sku="STALE")
        )

        def edit(body: Body) -> None:
            body["bodyHtml"] = "<p>Edited.</p>"

        response, _ = await put_edited(client, admin, product["id"], edit)

        assert response.status_code == 200, response.text
        item_sku = await db_session.scalar(
            select(InventoryItem.sku).where(InventoryItem.product_variant_id == variant_id)
        )
        assert item_sku == "A-1"

    async def test_option_value_positions_with_gaps(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        option_ids = select(ProductOption.id).where(ProductOption.product_id == product["id"])
        await db_session.execute(
            update(OptionValue)
            .where(OptionValue.product_option_id.in_(option_ids))
            .values(position=OptionValue.position * 10)
        )

        def edit(body: Body) -> None:
            body["bodyHtml"] = "<p>Edited.</p>"

        response, _ = await put_edited(client, admin, product["id"], edit)

        assert response.status_code == 200, response.text
        positions = await db_session.scalars(
            select(OptionValue.position)
            .where(OptionValue.product_option_id.in_(option_ids))
            .order_by(OptionValue.product_option_id, OptionValue.position)
        )
        assert list(positions) == [1, 2, 1, 2]

    async def test_a_missing_tag_row(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        row = await db_session.scalar(
            select(ProductTag).where(
                ProductTag.product_id == product["id"], ProductTag.tag == "summer"
            )
        )
        assert row is not None
        await db_session.delete(row)
        await db_session.flush()

        def edit(body: Body) -> None:
            body["bodyHtml"] = "<p>Edited.</p>"

        response, _ = await put_edited(client, admin, product["id"], edit)

        assert response.status_code == 200, response.text
        tags = await db_session.scalars(
            select(ProductTag.tag)
            .where(ProductTag.product_id == product["id"])
            .order_by(ProductTag.tag)
        )
        assert list(tags) == ["cotton", "summer"]


class TestTheStoredRows:
    async def test_are_what_the_orm_loads_and_a_get_body_keeps_them(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product(
            variants=[
                {**v, "weight": "0.155", "compareAtPrice": "25.00", "cost": "3.10"}
                for v in with_skus("A-1", "A-2", "A-3")
            ]
        )
        body = update_body((await read(client, admin, product["id"])).json(), "Classic Tee")
        data = ProductUpdate.model_validate(body)

        found = await ProductRepository(db_session).lock_with_structure(product["id"])
        orm = await ProductRepository(db_session).get_detail(product["id"])

        assert found is not None
        assert orm is not None
        _, stored = found
        assert [
            (v.id, v.price, v.compare_at_price, v.weight, v.item_cost, v.position)
            for v in stored.variants
        ] == [
            (
                v.id,
                v.price,
                v.compare_at_price,
                v.weight,
                v.inventory_item.cost if v.inventory_item else None,
                v.position,
            )
            for v in orm.variants
        ]
        assert all(isinstance(v.weight, Decimal) for v in stored.variants)
        assert [(o.name, o.position, o.values) for o in stored.options] == [
            (o.name, o.position, [(v.value, v.position) for v in o.values]) for o in orm.options
        ]
        assert sorted(stored.tags) == sorted(t.tag for t in orm.tag_rows)
        assert data.variants is not None
        assert kept_as_stored(stored, data.options, data.variants) == [
            v["id"] for v in product["variants"]
        ]

    async def test_of_a_product_that_is_gone_are_none(
        self, make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        assert await ProductRepository(db_session).lock_with_structure(10**9) is None


def stored_variant(variant_id: int, sku: str | None, size: str, position: int) -> StoredVariant:
    return StoredVariant(
        id=variant_id,
        title=size,
        price=Decimal("10.00"),
        compare_at_price=None,
        sku=sku,
        barcode=None,
        option1=size,
        option2=None,
        option3=None,
        weight=Decimal("0.50"),
        weight_unit="kg",
        inventory_policy="deny",
        taxable=True,
        requires_shipping=True,
        position=position,
        inventory_quantity=3,
        inventory_item_id=100 + variant_id,
        item_sku=sku,
        item_cost=None,
    )


STORED = StoredStructure(
    variants=[stored_variant(1, "S-1", "S", 1), stored_variant(2, "M-1", "M", 2)],
    options=[StoredOption("Size", 1, [("S", 1), ("M", 2)])],
    tags=["cotton"],
)
OPTIONS = [OptionInput(name="Size", values=["S", "M"])]


def replace(*variants: dict[str, Any]) -> list[VariantReplace]:
    return [VariantReplace.model_validate(v) for v in variants]


class TestKeptAsStored:
    def test_the_variants_as_stored_keep_their_ids_in_the_order_sent(self) -> None:
        sent = replace(
            {"id": 2, "option1": "M", "price": "10.0", "weight": "0.5", "position": 2},
            {"id": 1, "option1": "S", "sku": "S-1", "inventoryQuantity": 3, "position": 1},
        )
        assert kept_as_stored(STORED, OPTIONS, sent) == [2, 1]
        assert kept_as_stored(STORED, None, sent) == [2, 1]

    @pytest.mark.parametrize(
        "variants",
        [
            [{"id": 1, "option1": "S"}],  # one left out
            [{"id": 1, "option1": "S"}, {"id": 2, "option1": "M"}, {"option1": "L"}],  # added
            [{"id": 1, "option1": "S", "sku": "S-2"}, {"id": 2, "option1": "M"}],
            [{"id": 1, "option1": "S", "price": "11.00"}, {"id": 2, "option1": "M"}],
            [{"id": 1, "option1": "S", "weight": "0.51"}, {"id": 2, "option1": "M"}],
            [{"id": 1, "option1": "S", "inventoryQuantity": 4}, {"id": 2, "option1": "M"}],
            [{"id": 1, "option1": "S", "cost": "1.00"}, {"id": 2, "option1": "M"}],
            [{"id": 2, "option1": "M"}, {"id": 1, "option1": "S"}],  # positions move
            [{"id": 1, "option1": "S"}, {"id": 9, "option1": "M"}],  # not its variant
        ],
    )
    def test_anything_else_is_left_to_the_full_replacement(
        self, variants: list[dict[str, Any]]
    ) -> None:
        assert kept_as_stored(STORED, OPTIONS, replace(*variants)) is None

    def test_changed_options_are_left_to_the_full_replacement(self) -> None:
        sent = replace({"id": 1, "option1": "S"}, {"id": 2, "option1": "M"})
        reordered = [OptionInput(name="Size", values=["M", "S"])]
        renamed = [OptionInput(name="Fit", values=["S", "M"])]
        assert kept_as_stored(STORED, reordered, sent) is None
        assert kept_as_stored(STORED, renamed, sent) is None

"""A tag's pages read the tag rows' copies of the product's sort keys (migration 0034): they
must list exactly what filtering the products would, in the same order, after every kind of
change to a product (title, update time, soft delete and restore, tags replaced)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Product, ProductTag
from tests.catalog.test_update_paths import put_edited
from tests.fixtures.catalog import Headers, ProductFactory

SORTS = [("title", "asc"), ("title", "desc"), ("created", "asc"), ("updated", "desc")]


async def every_product(client: httpx.AsyncClient, headers: Headers) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/products", params={"pageSize": 250}, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def expected(
    products: list[dict[str, Any]], tag: str, sort: str, direction: str, **equal: str
) -> list[int]:
    key = {"title": "title", "created": "createdAt", "updated": "updatedAt"}[sort]
    chosen = [
        p
        for p in products
        if tag in [t.strip() for t in (p["tags"] or "").split(",")]
        and all(p[name] == value for name, value in equal.items())
    ]
    chosen.sort(key=lambda p: (p[key], p["id"]), reverse=direction == "desc")
    return [p["id"] for p in chosen]


async def pages(
    client: httpx.AsyncClient, headers: Headers, *, by_cursor: bool, **params: Any
) -> list[int]:
    """Every page of a listing, 2 products each, by page number or by cursor."""
    found: list[int] = []
    query: dict[str, Any] = {**params, "pageSize": 2}
    for page in range(1, 50):
        if not by_cursor:
            query["page"] = page
        response = await client.get("/api/v1/products", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        found += [p["id"] for p in body["items"]]
        if by_cursor:
            if body["nextCursor"] is None:
                return found
            query["cursor"] = body["nextCursor"]
        elif not body["items"]:
            return found
    raise AssertionError("more pages than products")


async def changed_catalog(
    client: httpx.AsyncClient, headers: Headers, make_product: ProductFactory
) -> None:
    made = [
        await make_product(
            f"Tagged {name}",
            vendor="Acme" if i % 2 else "Globex",
            tags="sale, eco" if i % 3 else "sale",
        )
        for i, name in enumerate(["delta", "alpha", "echo", "bravo", "foxtrot", "charlie", "golf"])
    ]
    # A title change moves a product in the title order, an update in the update order.
    renamed, _ = await put_edited(
        client, headers, made[0]["id"], lambda body: body.update(title="Tagged aardvark")
    )
    assert renamed.status_code == 200, renamed.text
    # Soft-deleted: gone from the tag's pages.
    deleted = await client.delete(f"/api/v1/products/{made[2]['id']}", headers=headers)
    assert deleted.status_code == 204, deleted.text
    # Tags replaced: the new tag's rows carry the product's keys too.
    retagged, _ = await put_edited(
        client, headers, made[3]["id"], lambda body: body.update(tags="eco, new")
    )
    assert retagged.status_code == 200, retagged.text


@pytest.mark.parametrize(("sort", "direction"), SORTS)
async def test_a_tags_pages_list_its_live_products_in_order(
    client: httpx.AsyncClient,
    admin: Headers,
    make_product: ProductFactory,
    sort: str,
    direction: str,
) -> None:
    await changed_catalog(client, admin, make_product)
    products = await every_product(client, admin)
    for tag in ("sale", "eco", "new"):
        want = expected(products, tag, sort, direction)
        assert want, tag
        for by_cursor in (False, True):
            got = await pages(
                client, admin, by_cursor=by_cursor, tag=tag, sortBy=sort, sortDirection=direction
            )
            assert got == want, (tag, by_cursor)
        # With a second filter, and the status checked beside it.
        got = await pages(
            client,
            admin,
            by_cursor=True,
            tag=tag,
            vendor="Acme",
            status="active",
            sortBy=sort,
            sortDirection=direction,
        )
        assert got == expected(products, tag, sort, direction, vendor="Acme", status="active")


async def test_tag_rows_carry_their_products_keys(
    client: httpx.AsyncClient,
    admin: Headers,
    make_product: ProductFactory,
    db_session: AsyncSession,
) -> None:
    await changed_catalog(client, admin, make_product)
    rows = (
        await db_session.execute(
            select(
                ProductTag.product_title,
                ProductTag.product_created_at,
                ProductTag.product_updated_at,
                ProductTag.product_live,
                Product.title,
                Product.created_at,
                Product.updated_at,
                Product.deleted_at.is_(None),
            ).join(Product, Product.id == ProductTag.product_id)
        )
    ).all()
    assert rows
    for row in rows:
        assert tuple(row[:4]) == tuple(row[4:])

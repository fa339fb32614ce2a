"""The PostgreSQL-built product JSON equals what the Pydantic models serialise, field for field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.products.repository import ProductRepository
from shopdb.catalog.read_model.presenters import product_detail_of
from shopdb.catalog.read_model.repository import (
    ProductFilter,
    ProductPageRequest,
    ProductReadRepository,
)
from shopdb.catalog.read_model.schemas import ProductDetail
from shopdb.models import Product, ProductImage, ProductVariant
from tests.fixtures.catalog import ProductFactory
from tests.fixtures.database import Backend


def pydantic_json(detail: ProductDetail) -> bytes:
    return detail.model_dump_json(by_alias=True, exclude={"metafields"}).encode()


async def assert_document_matches_models(session: AsyncSession, product_id: int) -> None:
    found = await ProductReadRepository(session).get_document(product_id)
    assert found is not None
    document, version = found
    product = await ProductRepository(session).get_detail(product_id)
    assert product is not None
    assert version == product.version
    expected = pydantic_json(product_detail_of(product))
    # Same value, same key order, same encoding of decimals and timestamps: the same bytes.
    assert document == expected


@pytest.fixture
def postgres_only(backend: Backend) -> None:
    if backend.name != "postgresql":
        pytest.skip("JSON documents are built by PostgreSQL; SQLite uses the models directly")


@pytest.mark.usefixtures("postgres_only")
class TestProductDocument:
    async def test_product_with_options_variants_and_stock(
        self, make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        created = await make_product("Shaped Tee")
        await assert_document_matches_models(db_session, created["id"])

    async def test_product_without_options_nulls_and_images(
        self, make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        created = await make_product(
            "Plain Mug",
            options=[],
            vendor=None,
            productType=None,
            tags=None,
            variants=[{"price": "8.00"}],
        )
        await assert_document_matches_models(db_session, created["id"])

    async def test_decimals_timestamps_and_images_encode_like_pydantic(
        self, make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        created = await make_product("Edge Tee")
        product_id = created["id"]
        whole_second = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        await db_session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(published_at=whole_second, body_html='<p>"quoted" & \\ unicode ü</p>')
        )
        await db_session.execute(
            update(ProductVariant)
            .where(ProductVariant.product_id == product_id)
            .values(compare_at_price=Decimal("12345678.90"), weight=Decimal("0.50"))
        )
        db_session.add_all(
            ProductImage(
                product_id=product_id,
                position=position,
                src=f"https://img.example/{position}.png",
                alt=None if position == 2 else "front",
                width=640,
                height=480,
                created_at=datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=UTC),
            )
            for position in (2, 1)
        )
        await db_session.flush()
        await assert_document_matches_models(db_session, product_id)

    async def test_missing_and_deleted_products_have_no_document(
        self, make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        created = await make_product("Gone Tee")
        repository = ProductReadRepository(db_session)
        await db_session.execute(
            update(Product).where(Product.id == created["id"]).values(deleted_at=datetime.now(UTC))
        )
        assert await repository.get_document(created["id"]) is None
        assert await repository.get_document(10**12) is None

    async def test_list_page_documents_equal_model_details(
        self, make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        for index in range(3):
            await make_product(f"Listed Tee {index}")
        repository = ProductReadRepository(db_session)
        request = ProductPageRequest(
            ProductFilter(q="listed"), "title", "asc", 1, 2, None, with_total=True
        )
        documents = await repository.list_documents(request)
        models = await repository.list(request)
        assert documents.total == models.total == 3
        assert documents.next_cursor == models.next_cursor
        assert (
            b"[" + b",".join(documents.items) + b"]"
            == b"[" + b",".join(pydantic_json(detail) for detail in models.items) + b"]"
        )

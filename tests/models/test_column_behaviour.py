"""What the shared column types promise on both databases: versions, UTC timestamps, exact money."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from shopdb.kit.types import utcnow
from shopdb.models import Company, Product, ProductVariant
from tests.models import rows


class TestVersionColumn:
    async def test_every_orm_update_increments_it(self, db_session: AsyncSession) -> None:
        product = Product(title="Tee", handle=rows.unique("tee"))
        db_session.add(product)
        await db_session.flush()
        assert product.version == 1

        product.title = "Classic Tee"
        await db_session.flush()
        assert product.version == 2

        product.status = "active"
        await db_session.flush()
        stored = await db_session.scalar(sa.select(Product.version).where(Product.id == product.id))
        assert (product.version, stored) == (3, 3)

    async def test_an_update_based_on_a_stale_read_is_refused(
        self, db_session: AsyncSession, db_connection: AsyncConnection
    ) -> None:
        product = Product(title="Tee", handle=rows.unique("tee"))
        db_session.add(product)
        await db_session.commit()  # only releases a savepoint: the test still rolls back
        product_id = product.id
        products = rows.table("products")
        # Another writer changes the row after this session read it (version 1 -> 2).
        await db_connection.execute(
            sa.update(products)
            .where(products.c.id == product_id)
            .values(title="Their Tee", version=products.c.version + 1)
        )

        product.title = "My Tee"
        with pytest.raises(StaleDataError):
            await db_session.flush()
        await db_session.rollback()

        stored = (
            await db_connection.execute(
                sa.select(products.c.title, products.c.version).where(products.c.id == product_id)
            )
        ).one()
        assert tuple(stored) == ("Their Tee", 2)


class TestTimestamps:
    async def test_python_defaults_come_back_aware_utc(self, db_session: AsyncSession) -> None:
        product = Product(title="Tee", handle=rows.unique("tee"))
        db_session.add(product)
        await db_session.flush()

        # A column select reads the stored value, not the in-memory one the default produced.
        created_at = await db_session.scalar(
            sa.select(Product.created_at).where(Product.id == product.id)
        )

        assert created_at is not None
        assert created_at.tzinfo is not None
        assert created_at.utcoffset() == timedelta(0)

    async def test_server_defaults_come_back_aware_utc(
        self, db_connection: AsyncConnection
    ) -> None:
        handle = rows.unique("tee")
        # Plain SQL naming neither timestamp, so the columns' DEFAULT CURRENT_TIMESTAMP applies.
        await db_connection.execute(
            sa.text("INSERT INTO products (title, handle) VALUES ('Tee', :handle)"),
            {"handle": handle},
        )
        products = rows.table("products")

        created_at, status, version = (
            await db_connection.execute(
                sa.select(products.c.created_at, products.c.status, products.c.version).where(
                    products.c.handle == handle
                )
            )
        ).one()

        assert (status, version) == ("draft", 1)
        assert isinstance(created_at, datetime)
        assert created_at.utcoffset() == timedelta(0)
        # CURRENT_TIMESTAMP is UTC on both databases, not the server's local time.
        assert abs(created_at - utcnow()) < timedelta(hours=1)

    async def test_other_offsets_are_stored_as_the_same_instant_in_utc(
        self, db_session: AsyncSession
    ) -> None:
        in_india = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
        product = Product(title="Tee", handle=rows.unique("tee"), published_at=in_india)
        db_session.add(product)
        await db_session.flush()

        published_at = await db_session.scalar(
            sa.select(Product.published_at).where(Product.id == product.id)
        )

        assert published_at == datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
        assert published_at.tzinfo == UTC

    async def test_naive_datetimes_are_refused(self, db_session: AsyncSession) -> None:
        naive = datetime(2026, 3, 1, 9, 30)  # noqa: DTZ001 - the point of the test
        db_session.add(Product(title="Tee", handle=rows.unique("tee"), published_at=naive))

        with pytest.raises(StatementError, match="naive datetimes are not stored"):
            await db_session.flush()


class TestMoney:
    @pytest.mark.parametrize(
        "price", [Decimal("12345678.99"), Decimal("99999999.99"), Decimal("0.01"), Decimal("0.10")]
    )
    async def test_prices_round_trip_exactly(
        self, db_session: AsyncSession, price: Decimal
    ) -> None:
        product = Product(title="Tee", handle=rows.unique("tee"))
        product.variants.append(ProductVariant(title="Default", price=price))
        db_session.add(product)
        await db_session.flush()

        stored = await db_session.scalar(
            sa.select(ProductVariant.price).where(ProductVariant.product_id == product.id)
        )

        assert isinstance(stored, Decimal)
        assert stored == price
        assert str(stored) == str(price)

    async def test_wide_credit_limits_round_trip_exactly(self, db_session: AsyncSession) -> None:
        company = Company(company_name="Acme", credit_limit=Decimal("9999999999999.99"))
        db_session.add(company)
        await db_session.flush()

        stored = await db_session.scalar(
            sa.select(Company.credit_limit).where(Company.id == company.id)
        )

        assert stored == Decimal("9999999999999.99")

    async def test_sums_of_cents_stay_exact(self, db_session: AsyncSession) -> None:
        product = Product(title="Tee", handle=rows.unique("tee"))
        for cents in ("0.10", "0.20", "0.10", "12345678.99"):
            product.variants.append(ProductVariant(title=cents, price=Decimal(cents)))
        db_session.add(product)
        await db_session.flush()

        total = await db_session.scalar(
            sa.select(sa.func.sum(ProductVariant.price)).where(
                ProductVariant.product_id == product.id
            )
        )

        assert total == Decimal("12345679.39")

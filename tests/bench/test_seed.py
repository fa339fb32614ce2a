from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shopdb.auth.passwords import verify_password
from shopdb.bench import words
from shopdb.bench.seed import (
    BENCH_ADMIN_EMAIL,
    CatalogGenerator,
    IdAllocator,
    SeedSpec,
    authorization_reference,
    read_credentials,
    seed_bench,
    write_credentials,
)
from shopdb.customers.pii import CUSTOMER_EMAIL, CUSTOMER_PHONE
from shopdb.errors import Conflict
from shopdb.keys import field_cipher
from shopdb.kit.crypto import FieldCipher
from shopdb.models import (
    Customer,
    DiscountCode,
    InventoryLevel,
    Order,
    OrderLineItem,
    OrderTransaction,
    Payment,
    Product,
    ProductVariant,
    Transaction,
    TransactionEnhanced,
    User,
)
from shopdb.models.orders import ORDER_EMAIL
from shopdb.orders.payments import payment_key
from shopdb.payments.gateways.test import APPROVED_CARD, TestGateway
from tests.fixtures.database import Backend

TINY = SeedSpec(
    products=12,
    variants=3,
    locations=2,
    customers=4,
    images=1,
    seed=7,
    orders=40,
    lifecycle_orders=0,
)
UNTIL = datetime(2026, 11, 1, tzinfo=UTC)


def generate(spec: SeedSpec, seed: int | None = None) -> dict[str, list[dict[str, object]]]:
    first = dict.fromkeys(
        (
            "products",
            "product_options",
            "option_values",
            "product_tags",
            "product_images",
            "product_variants",
            "inventory_items",
            "inventory_levels",
        ),
        1,
    )
    generator = CatalogGenerator(
        spec, random.Random(spec.seed if seed is None else seed), IdAllocator(first), [1, 2]
    )
    return generator.batch(spec.products)


class TestGenerator:
    def test_same_seed_gives_identical_rows(self) -> None:
        assert generate(TINY) == generate(TINY)

    def test_another_seed_gives_other_titles(self) -> None:
        titles = [row["title"] for row in generate(TINY)["products"]]
        other = [row["title"] for row in generate(TINY, seed=8)["products"]]
        assert titles != other

    @pytest.mark.parametrize("variants", [1, 2, 3, 5])
    def test_every_product_has_exactly_the_requested_variants(self, variants: int) -> None:
        spec = SeedSpec(products=40, variants=variants, seed=3)
        rows = generate(spec)
        per_product = Counter(row["product_id"] for row in rows["product_variants"])
        assert set(per_product.values()) == {variants}
        assert len(per_product) == 40

    def test_option_combinations_are_distinct_and_use_every_listed_value(self) -> None:
        rows = generate(SeedSpec(products=60, variants=3, seed=5))
        options = {row["id"]: row for row in rows["product_options"]}
        for product in rows["products"]:
            variants = [v for v in rows["product_variants"] if v["product_id"] == product["id"]]
            combos = [(v["option1"], v["option2"]) for v in variants]
            assert len(set(combos)) == len(combos)
            mine = [o for o in options.values() if o["product_id"] == product["id"]]
            assert 1 <= len(mine) <= 2
            for option in mine:
                column = f"option{option['position']}"
                listed = {
                    value["value"]
                    for value in rows["option_values"]
                    if value["product_option_id"] == option["id"]
                }
                assert listed == {v[column] for v in variants}

    def test_variant_quantity_is_the_sum_of_its_levels(self) -> None:
        rows = generate(TINY)
        levels: Counter[int] = Counter()
        for level in rows["inventory_levels"]:
            levels[int(str(level["inventory_item_id"]))] += int(str(level["available"]))
        item_of = {i["product_variant_id"]: i["id"] for i in rows["inventory_items"]}
        for variant in rows["product_variants"]:
            assert variant["inventory_quantity"] == levels[int(str(item_of[variant["id"]]))]
        assert len(rows["inventory_levels"]) == 2 * len(rows["product_variants"])

    def test_handles_and_skus_are_unique_and_titles_use_the_word_list(self) -> None:
        rows = generate(SeedSpec(products=300, variants=3, seed=1))
        handles = [p["handle"] for p in rows["products"]]
        skus = [v["sku"] for v in rows["product_variants"]]
        assert len(set(handles)) == len(handles)
        assert len(set(skus)) == len(skus)
        searchable = {w.lower() for w in words.search_words()}
        for product in rows["products"]:
            assert set(str(product["title"]).lower().split()) & searchable

    def test_rejects_impossible_specs(self) -> None:
        with pytest.raises(ValueError, match="variants"):
            SeedSpec(variants=0)
        with pytest.raises(ValueError, match="location"):
            SeedSpec(locations=0)


async def _count(connection: AsyncConnection, model: type) -> int:
    return int((await connection.execute(select(func.count()).select_from(model))).scalar_one())


class TestSeedIntoDatabase:
    async def test_loads_the_catalog_with_consistent_inventory(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        result = await seed_bench(db_connection, field_cipher(backend.settings), TINY)

        assert await _count(db_connection, Product) == 12
        assert await _count(db_connection, ProductVariant) == 36
        assert await _count(db_connection, InventoryLevel) == 72
        assert result.counts["products"] == 12
        assert result.counts["inventory_levels"] == 72
        mismatched = await db_connection.execute(
            text(
                "SELECT v.id FROM product_variants v JOIN inventory_items i "
                "ON i.product_variant_id = v.id JOIN inventory_levels l "
                "ON l.inventory_item_id = i.id GROUP BY v.id, v.inventory_quantity "
                "HAVING v.inventory_quantity <> sum(l.available)"
            )
        )
        assert mismatched.all() == []

    async def test_customers_are_sealed_with_the_configured_cipher(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        cipher: FieldCipher = field_cipher(backend.settings)
        await seed_bench(db_connection, cipher, TINY)

        rows = (
            await db_connection.execute(select(Customer.email, Customer.email_hash, Customer.phone))
        ).all()
        assert len(rows) == 4
        for sealed, email_hash, phone in rows:
            email = cipher.decrypt(sealed, context=CUSTOMER_EMAIL)
            assert email.endswith("@example.com")
            assert email_hash == cipher.blind_index(email)
            assert phone is not None
            assert cipher.decrypt(phone, context=CUSTOMER_PHONE).startswith("+1 555 ")

    async def test_creates_an_admin_whose_password_is_returned_not_printed(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        result = await seed_bench(db_connection, field_cipher(backend.settings), TINY)

        user = (
            await db_connection.execute(
                select(User.role, User.password_hash).where(User.email == BENCH_ADMIN_EMAIL)
            )
        ).one()
        assert user.role == "admin"
        assert verify_password(user.password_hash, result.admin_password)
        assert result.admin_password not in repr(result)

    async def test_refuses_a_database_that_already_has_products(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        cipher = field_cipher(backend.settings)
        await seed_bench(db_connection, cipher, TINY)

        with pytest.raises(Conflict, match="already has 12 products"):
            await seed_bench(db_connection, cipher, TINY)
        assert await _count(db_connection, Product) == 12
        assert await _count(db_connection, Customer) == 4

    @pytest.mark.postgres_only
    async def test_moves_identity_sequences_past_the_explicit_ids(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        if backend.name != "postgresql":
            pytest.skip("identity sequences are PostgreSQL's")
        await seed_bench(db_connection, field_cipher(backend.settings), TINY)

        highest = (await db_connection.execute(select(func.max(Product.id)))).scalar_one()
        inserted = await db_connection.execute(
            text(
                "INSERT INTO products (title, handle, status) "
                "VALUES ('After seed', 'after-seed', 'draft') RETURNING id"
            )
        )
        assert inserted.scalar_one() == highest + 1


async def _orders(connection: AsyncConnection) -> list[dict[str, object]]:
    rows = await connection.execute(select(Order.__table__).order_by(Order.id))
    return [dict(row) for row in rows.mappings()]


class TestOrders:
    async def test_totals_add_up_and_lines_sum_to_the_subtotal(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        await seed_bench(db_connection, field_cipher(backend.settings), TINY, orders_until=UNTIL)

        orders = (await db_connection.execute(select(Order))).all()
        assert len(orders) == 40
        lines = (await db_connection.execute(select(OrderLineItem))).all()
        by_order: dict[int, list[Any]] = {}
        for line in lines:
            by_order.setdefault(line.order_id, []).append(line)
        for order in orders:
            mine = by_order[order.id]
            assert 1 <= len(mine) <= 3
            assert order.subtotal_price == sum(
                (line.price * line.quantity for line in mine), Decimal(0)
            )
            assert order.total_discounts == sum((line.total_discount for line in mine), Decimal(0))
            assert order.total_price == (
                order.subtotal_price
                - order.total_discounts
                + order.total_shipping
                + order.total_tax
            )
            assert order.total_tax == sum(
                (Decimal(t["amount"]) for t in order.tax_lines or []), Decimal(0)
            )
            assert UNTIL - timedelta(days=366) <= order.created_at < UNTIL
            assert order.reserved_until is None
            assert {line.inventory_item_id for line in mine} == {None}

    async def test_numbers_rise_with_time_and_the_next_order_follows_them(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        from sqlalchemy.ext.asyncio import AsyncSession

        from shopdb.orders.repository import OrderRepository

        await seed_bench(db_connection, field_cipher(backend.settings), TINY, orders_until=UNTIL)

        orders = (
            await db_connection.execute(
                select(Order.order_number, Order.number, Order.created_at).order_by(Order.id)
            )
        ).all()
        numbers = [row.order_number for row in orders]
        # PostgreSQL's sequence moves outside transactions: earlier tests may have used 1001.
        assert numbers[0] == 1001 or backend.name == "postgresql"
        assert numbers == list(range(numbers[0], numbers[0] + 40))
        assert [row.number for row in orders] == [f"#{n}" for n in numbers]
        assert [row.created_at for row in orders] == sorted(row.created_at for row in orders)
        async with AsyncSession(
            bind=db_connection, join_transaction_mode="create_savepoint"
        ) as session:
            assert await OrderRepository(session).next_order_number() == numbers[-1] + 1

    async def test_emails_are_sealed_for_orders_with_the_customers_blind_index(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        cipher = field_cipher(backend.settings)
        await seed_bench(db_connection, cipher, TINY, orders_until=UNTIL)

        customers = {
            row.id: row.email_hash
            for row in await db_connection.execute(select(Customer.id, Customer.email_hash))
        }
        rows = (
            await db_connection.execute(select(Order.customer_id, Order.email, Order.email_hash))
        ).all()
        for customer_id, sealed, email_hash in rows:
            email = cipher.decrypt(sealed, context=ORDER_EMAIL)
            assert "@" not in sealed
            assert email_hash == cipher.blind_index(email)
            if customer_id is not None:
                assert email_hash == customers[customer_id]

    async def test_transactions_match_the_status_and_their_mirrors(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        await seed_bench(
            db_connection,
            field_cipher(backend.settings),
            SeedSpec(products=12, customers=4, seed=7, orders=300, lifecycle_orders=0),
            orders_until=UNTIL,
        )

        orders = {
            row.id: row
            for row in await db_connection.execute(
                select(Order.id, Order.financial_status, Order.total_price, Order.discount_code)
            )
        }
        statuses = Counter(o.financial_status for o in orders.values())
        assert statuses["paid"] > 150
        assert {"pending", "authorized", "refunded", "voided"} <= set(statuses)
        kinds: dict[int, list[tuple[str, Decimal]]] = {}
        for t in await db_connection.execute(
            select(OrderTransaction.order_id, OrderTransaction.kind, OrderTransaction.amount)
        ):
            kinds.setdefault(t.order_id, []).append((t.kind, t.amount))
        for order in orders.values():
            mine = kinds.get(order.id, [])
            paid = sum((a for k, a in mine if k == "sale"), Decimal(0))
            refunded = sum((a for k, a in mine if k == "refund"), Decimal(0))
            if order.financial_status == "paid":
                assert paid == order.total_price
                assert refunded == 0
            elif order.financial_status == "refunded":
                assert paid == refunded == order.total_price
            elif order.financial_status == "partially_refunded":
                assert paid == order.total_price
                assert 0 < refunded < paid
            elif order.financial_status == "pending":
                assert mine == []
        mirrored = await db_connection.execute(
            select(OrderTransaction.amount, Transaction.amount, Payment.order_id)
            .join(Transaction, Transaction.order_transaction_id == OrderTransaction.id)
            .join(Payment, Payment.id == Transaction.payment_id)
        )
        pairs = mirrored.all()
        assert len(pairs) == sum(len(v) for v in kinds.values())
        assert all(ours == theirs for ours, theirs, _ in pairs)
        used = (await db_connection.execute(select(DiscountCode.used_count))).scalar_one()
        assert used == sum(1 for o in orders.values() if o.discount_code)

    async def test_the_three_representations_agree_by_order_and_kind(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        result = await seed_bench(
            db_connection,
            field_cipher(backend.settings),
            SeedSpec(products=12, customers=4, seed=7, orders=300, lifecycle_orders=0),
            orders_until=UNTIL,
        )

        truth = await _by_order_and_kind(
            db_connection,
            select(
                OrderTransaction.order_id,
                OrderTransaction.kind,
                func.count(),
                func.sum(OrderTransaction.amount),
            ),
        )
        gateway_side = await _by_order_and_kind(
            db_connection,
            select(
                Payment.order_id, Transaction.type, func.count(), func.sum(Transaction.amount)
            ).join(Payment, Payment.id == Transaction.payment_id),
        )
        enhanced = await _by_order_and_kind(
            db_connection,
            select(
                TransactionEnhanced.order_id,
                TransactionEnhanced.kind,
                func.count(),
                func.sum(TransactionEnhanced.amount),
            ),
        )
        assert {kind for _, kind in truth} == {"sale", "authorization", "refund", "void"}
        assert gateway_side == truth
        assert enhanced == truth
        total = sum(count for count, _ in truth.values())
        assert await _count(db_connection, TransactionEnhanced) == total
        assert result.counts["transactions_enhanced"] == result.counts["order_transactions"]
        assert result.counts["order_transactions"] == total

    async def test_each_enhanced_row_names_its_order_transaction_as_the_app_writes_it(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        await seed_bench(db_connection, field_cipher(backend.settings), TINY, orders_until=UNTIL)

        truth = {t.id: t for t in (await db_connection.execute(select(OrderTransaction))).all()}
        enhanced = (await db_connection.execute(select(TransactionEnhanced))).all()
        linked = [e.receipt["orderTransactionId"] for e in enhanced]
        assert sorted(linked) == sorted(truth)
        for row in enhanced:
            source = truth[row.receipt["orderTransactionId"]]
            assert (row.order_id, row.kind, row.gateway, row.status) == (
                source.order_id,
                source.kind,
                "test",
                "success",
            )
            assert (row.amount, row.currency) == (source.amount, source.currency)
            assert row.processed_at == source.processed_at == row.created_at
            assert row.authorization == source.authorization_code
            assert (row.authorization is not None) == (row.kind == "authorization")
            assert row.test is True
            assert row.error_code is None
            assert row.parent_id is None
            assert row.payment_details == {"cardBrand": "visa", "cardLast4": "4242"}
            assert row.receipt == {
                "orderTransactionId": source.id,
                "transactionId": source.transaction_id,
                "giftCardId": None,
            }

    @pytest.mark.postgres_only
    async def test_moves_the_enhanced_identity_past_the_explicit_ids(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        if backend.name != "postgresql":
            pytest.skip("identity sequences are PostgreSQL's")
        await seed_bench(db_connection, field_cipher(backend.settings), TINY, orders_until=UNTIL)

        highest, order_id = (
            await db_connection.execute(
                select(func.max(TransactionEnhanced.id), func.min(TransactionEnhanced.order_id))
            )
        ).one()
        inserted = await db_connection.execute(
            text(
                "INSERT INTO transactions_enhanced (order_id, kind, gateway, status, amount, "
                "currency) VALUES (:order_id, 'sale', 'test', 'success', 1, 'USD') RETURNING id"
            ),
            {"order_id": order_id},
        )
        assert inserted.scalar_one() == highest + 1

    async def test_same_seed_and_day_give_the_same_orders(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        # The ciphertext's nonce is random; numbers come from a sequence that rollbacks keep.
        varying = ("email", "number", "order_number")
        cipher = field_cipher(backend.settings)
        await seed_bench(db_connection, cipher, TINY, orders_until=UNTIL)
        first = [
            {k: v for k, v in row.items() if k not in varying}
            for row in await _orders(db_connection)
        ]

        await db_connection.rollback()
        await db_connection.begin()
        await seed_bench(db_connection, cipher, TINY, orders_until=UNTIL)
        again = [
            {k: v for k, v in row.items() if k not in varying}
            for row in await _orders(db_connection)
        ]
        assert len(first) == 40
        assert first == again


async def _by_order_and_kind(
    connection: AsyncConnection, statement: Select[int, str, int, Decimal]
) -> dict[tuple[int, str], tuple[int, Decimal]]:
    """(order, kind) -> (rows, amount), counted and summed by the database."""
    rows = await connection.execute(statement.group_by(*statement.selected_columns[:2]))
    return {(int(r[0]), str(r[1])): (int(r[2]), Decimal(r[3])) for r in rows}


LIFECYCLE = SeedSpec(products=12, customers=4, seed=7, orders=40, lifecycle_orders=30)


async def _lifecycle_orders(connection: AsyncConnection) -> list[Any]:
    table = Order.__table__
    rows = await connection.execute(
        select(table).where(table.c.tags == "bench, lifecycle").order_by(table.c.id)
    )
    return list(rows.all())


class TestLifecycleOrders:
    async def test_are_authorized_unfulfilled_with_one_authorization_for_their_total(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        result = await seed_bench(
            db_connection, field_cipher(backend.settings), LIFECYCLE, orders_until=UNTIL
        )

        orders = await _lifecycle_orders(db_connection)
        assert len(orders) == 30
        assert result.counts["orders"] == 70
        assert {(o.financial_status, o.fulfillment_status, o.gateway) for o in orders} == {
            ("authorized", "unfulfilled", "test")
        }
        assert {(o.cancelled_at, o.closed_at) for o in orders} == {(None, None)}
        transactions = (
            await db_connection.execute(
                select(OrderTransaction.__table__).where(
                    OrderTransaction.order_id.in_([o.id for o in orders])
                )
            )
        ).all()
        by_order: dict[int, list[Any]] = {}
        for t in transactions:
            by_order.setdefault(t.order_id, []).append(t)
        for order in orders:
            (only,) = by_order[order.id]
            assert (only.kind, only.status, only.gateway) == ("authorization", "success", "test")
            assert only.amount == order.total_price
            assert only.authorization_code == only.transaction_id
            assert only.transaction_id == authorization_reference(
                order.id, order.total_price, "USD"
            )

    async def test_the_test_gateway_captures_their_authorization_and_no_more(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        await seed_bench(
            db_connection, field_cipher(backend.settings), LIFECYCLE, orders_until=UNTIL
        )
        order = (await _lifecycle_orders(db_connection))[0]
        reference = (
            await db_connection.execute(
                select(OrderTransaction.transaction_id).where(OrderTransaction.order_id == order.id)
            )
        ).scalar_one()
        assert reference is not None
        gateway = TestGateway()

        captured = await gateway.capture(
            reference=reference, amount=order.total_price, currency="USD", idempotency_key="c1"
        )
        too_much = await gateway.capture(
            reference=reference,
            amount=order.total_price + Decimal("0.01"),
            currency="USD",
            idempotency_key="c2",
        )
        # The very reference the gateway itself gives the placement's authorization.
        authorized = await gateway.authorize(
            amount=order.total_price,
            currency="USD",
            token=APPROVED_CARD,
            idempotency_key=payment_key(order.id, "authorize"),
        )

        assert (captured.status, captured.amount) == ("success", order.total_price)
        assert (too_much.status, too_much.error_code) == ("failure", "invalid_amount")
        assert authorized.reference == reference

    async def test_lines_name_one_location_and_the_levels_commit_exactly_their_units(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        await seed_bench(
            db_connection, field_cipher(backend.settings), LIFECYCLE, orders_until=UNTIL
        )

        orders = {o.id for o in await _lifecycle_orders(db_connection)}
        lines = (
            await db_connection.execute(
                select(
                    OrderLineItem.order_id,
                    OrderLineItem.product_variant_id,
                    OrderLineItem.quantity,
                    OrderLineItem.fulfilled_quantity,
                    OrderLineItem.removed_quantity,
                    OrderLineItem.inventory_item_id,
                    OrderLineItem.location_id,
                )
            )
        ).all()
        item_of: dict[int, int] = dict(
            (
                await db_connection.execute(
                    text("SELECT product_variant_id, id FROM inventory_items")
                )
            ).all()
        )
        committed: Counter[tuple[int, int]] = Counter()
        per_order: dict[int, list[Any]] = {}
        for line in lines:
            if line.order_id not in orders:
                assert (line.inventory_item_id, line.location_id) == (None, None)
                continue
            per_order.setdefault(line.order_id, []).append(line)
            assert line.inventory_item_id == item_of[line.product_variant_id]
            assert (line.fulfilled_quantity, line.removed_quantity) == (0, 0)
            committed[(line.inventory_item_id, line.location_id)] += line.quantity
        assert set(per_order) == orders
        for mine in per_order.values():
            assert len({line.location_id for line in mine}) == 1
            assert sum(line.quantity for line in mine) >= 2
        levels = (
            await db_connection.execute(
                select(
                    InventoryLevel.inventory_item_id,
                    InventoryLevel.location_id,
                    InventoryLevel.committed,
                )
            )
        ).all()
        assert {(i, loc): c for i, loc, c in levels if c} == dict(committed)
        assert sum(committed.values()) > 0

    async def test_history_and_available_stock_are_the_same_with_or_without_them(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        varying = ("email", "number", "order_number")
        cipher = field_cipher(backend.settings)

        async def state() -> tuple[list[dict[str, object]], list[Any]]:
            history = [
                {k: v for k, v in row.items() if k not in varying}
                for row in await _orders(db_connection)
                if row["tags"] == "bench, historical"
            ]
            stock = (
                await db_connection.execute(
                    text(
                        "SELECT l.id, l.available, v.inventory_quantity FROM inventory_levels l "
                        "JOIN inventory_items i ON i.id = l.inventory_item_id "
                        "JOIN product_variants v ON v.id = i.product_variant_id ORDER BY l.id"
                    )
                )
            ).all()
            return history, list(stock)

        await seed_bench(
            db_connection,
            cipher,
            SeedSpec(products=12, customers=4, seed=7, orders=40, lifecycle_orders=0),
            orders_until=UNTIL,
        )
        without = await state()
        await db_connection.rollback()
        await db_connection.begin()
        await seed_bench(db_connection, cipher, LIFECYCLE, orders_until=UNTIL)
        with_them = await state()

        assert len(without[0]) == 40
        assert with_them == without
        every: list[dict[str, Any]] = await _orders(db_connection)
        assert [o["created_at"] for o in every] == sorted(o["created_at"] for o in every)
        assert [o["tags"] for o in every] == ["bench, historical"] * 40 + ["bench, lifecycle"] * 30
        assert all(UNTIL - timedelta(days=366) < o["created_at"] < UNTIL for o in every)
        numbers = [o["order_number"] for o in every]
        assert numbers == list(range(numbers[0], numbers[0] + 70))

    async def test_same_seed_and_day_give_the_same_lifecycle_orders(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        varying = ("email", "number", "order_number")
        cipher = field_cipher(backend.settings)

        async def lifecycle_rows() -> list[dict[str, object]]:
            return [
                {k: v for k, v in row.items() if k not in varying}
                for row in await _orders(db_connection)
                if row["tags"] == "bench, lifecycle"
            ]

        await seed_bench(db_connection, cipher, LIFECYCLE, orders_until=UNTIL)
        first = await lifecycle_rows()
        await db_connection.rollback()
        await db_connection.begin()
        await seed_bench(db_connection, cipher, LIFECYCLE, orders_until=UNTIL)

        assert len(first) == 30
        assert await lifecycle_rows() == first


class TestCredentialsFile:
    def test_is_readable_by_its_owner_only(self, tmp_path: pytest.TempPathFactory) -> None:
        path = tmp_path / "bench-admin.json"  # type: ignore[operator]
        write_credentials(path, "a@b.c", "s3cret-value")

        assert read_credentials(path) == ("a@b.c", "s3cret-value")
        assert path.stat().st_mode & 0o777 == 0o600

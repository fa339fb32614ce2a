"""Every SQL statement of the orders domain (the catalog and stock it reads included)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from shopdb.db import read_connection
from shopdb.kit import journal, prepared
from shopdb.kit.models import (
    Base,
    attach_inserted,
    attach_loaded,
    column_values,
    insert_rows,
)
from shopdb.kit.pagination import (
    AnySelect,
    Cursor,
    Direction,
    PageRequest,
    RowsPage,
    count_rows,
    read_page,
)
from shopdb.kit.sql import one_of
from shopdb.kit.types import utcnow
from shopdb.models import (
    Customer,
    InventoryItem,
    InventoryLevel,
    Location,
    Order,
    OrderLineItem,
    OrderTransaction,
    Payment,
    Product,
    ProductVariant,
    Transaction,
    TransactionEnhanced,
)
from shopdb.models.orders import ORDER_NUMBER_SEQUENCE, OrderNumberCounter

ORDER_COUNTER = "orders"

# The payment mirrors' tables, written by Core INSERTs (add_transaction).
PAYMENTS = cast(Table, Payment.__table__)
TRANSACTIONS = cast(Table, Transaction.__table__)
TRANSACTIONS_ENHANCED = cast(Table, TransactionEnhanced.__table__)


@dataclass(frozen=True)
class CatalogRow:
    variant_id: int
    product_id: int
    product_title: str
    variant_title: str
    sku: str | None
    price: Decimal
    weight: Decimal | None
    weight_unit: str | None
    taxable: bool
    requires_shipping: bool
    inventory_item_id: int | None
    tracked: bool | None
    inventory_policy: str


@dataclass(frozen=True)
class StockCandidate:
    inventory_item_id: int
    location_id: int
    available: int


@dataclass(frozen=True)
class CustomerFacts:
    email: str  # sealed with the customers' context
    email_hash: str
    tax_exempt: bool


@dataclass(frozen=True)
class OrderFilters:
    status: str = "any"  # open, closed, cancelled, any
    financial_status: str | None = None
    fulfillment_status: str | None = None
    customer_id: int | None = None
    email_hash: str | None = None
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None


@dataclass(frozen=True)
class UnsettledPayment:
    gateway: str
    kind: str  # authorization (void it) or sale (refund it)
    reference: str
    amount: Decimal  # what the gateway was asked for: the total less the gift cards
    currency: str


@dataclass(frozen=True)
class CustomerStats:
    orders_count: int
    total_spent: Decimal


# The list's sort keys (API name -> column); every one is followed by id.
SORT_COLUMNS: dict[str, Any] = {
    "createdAt": Order.created_at,
    "updatedAt": Order.updated_at,
    "totalPrice": Order.total_price,
    "number": Order.order_number,
}


def _placed() -> list[ColumnElement[bool]]:
    # The very predicate of the list indexes (PLACED_ROWS), so the planner can use them.
    return [Order.reserved_until.is_(None), Order.deleted_at.is_(None)]


def placed_conditions() -> list[ColumnElement[bool]]:
    """What makes an `orders` row a placed order (document_repository.py reads them too)."""
    return _placed()


# OrderFilters' fields beside `status`, each one's condition on its value (a value, or a bind
# parameter in a statement built once: document_repository.py).
FILTER_CONDITIONS: dict[str, Callable[[Any], ColumnElement[bool]]] = {
    "financial_status": lambda value: Order.financial_status == value,
    "fulfillment_status": lambda value: Order.fulfillment_status == value,
    "customer_id": lambda value: Order.customer_id == value,
    "email_hash": lambda value: Order.email_hash == value,
    "created_at_min": lambda value: Order.created_at >= value,
    "created_at_max": lambda value: Order.created_at <= value,
}


def status_conditions(status: str) -> list[ColumnElement[bool]]:
    """The `status` filter (open, closed, cancelled; anything else: any), as the status
    indexes' predicates (models.orders.ORDER_STATUS_ROWS) spell it."""
    if status == "open":
        return [Order.closed_at.is_(None), Order.cancelled_at.is_(None)]
    if status == "closed":
        return [Order.closed_at.is_not(None)]
    if status == "cancelled":
        return [Order.cancelled_at.is_not(None)]
    return []


# The test gateway's payments are test transactions (Shopify's `test`); the other gateways'
# are real as far as the order can tell (Stripe's test mode is the account's, not the call's).
TEST_GATEWAY = "test"


def enhanced_columns(transaction: OrderTransaction) -> dict[str, Any]:
    """The `transactions_enhanced` row mirroring a flushed `order_transactions` row.

    Every column of the order transaction has one home: the shared ones (order, kind,
    gateway, status, amount, currency, processed_at, error_code) by name, the authorization
    code as `authorization`, the card's brand and last four digits (all that is ever kept of
    a card) in `payment_details`, and the order transaction's id, the gateway's reference and
    the gift card in `receipt`. The id is the link to the source of truth (the table has no
    column for it); `parent_id` is the enhanced row of the order transaction's parent, found
    through that link when the row is inserted (null when it has none)."""
    card = (
        None
        if transaction.card_brand is None and transaction.card_last4 is None
        else {"cardBrand": transaction.card_brand, "cardLast4": transaction.card_last4}
    )
    return {
        "order_id": transaction.order_id,
        "kind": transaction.kind,
        "gateway": transaction.gateway,
        "status": transaction.status,
        "amount": transaction.amount,
        "currency": transaction.currency,
        "processed_at": transaction.processed_at,
        "error_code": transaction.error_code,
        "authorization": transaction.authorization_code,
        "test": transaction.gateway == TEST_GATEWAY,
        "payment_details": card,
        "receipt": {
            "orderTransactionId": transaction.id,
            "transactionId": transaction.transaction_id,
            "giftCardId": transaction.gift_card_id,
        },
        "parent_id": (
            None
            if transaction.parent_id is None
            else select(TransactionEnhanced.id)
            .where(
                TransactionEnhanced.order_id == transaction.order_id,
                TransactionEnhanced.receipt["orderTransactionId"].as_integer()
                == transaction.parent_id,
            )
            .limit(1)
            .scalar_subquery()
        ),
    }


# PostgreSQL's add_transaction: the order transaction and its three mirrors in one statement,
# the mirrors reading its id from the first INSERT's RETURNING; the same columns as
# enhanced_columns and the SQLite path give them (tests/orders/test_sources_of_truth.py).
_WITH_MIRRORS = text(
    """
    WITH ot AS (
        INSERT INTO order_transactions (order_id, kind, gateway, status, amount, currency,
            parent_id, authorization_code, transaction_id, processed_at, error_code,
            card_brand, card_last4, gift_card_id, created_at)
        VALUES (:order_id, :kind, :gateway, :status, :amount, :currency, :parent_id,
            :authorization_code, :transaction_id, :processed_at, :error_code, :card_brand,
            :card_last4, :gift_card_id, :created_at)
        RETURNING id
    ), payment AS (
        INSERT INTO payments (order_id, gateway, status, amount, currency, payment_method,
            transaction_id, processed_at, created_at)
        VALUES (:order_id, :gateway, :status, :amount, :currency, :payment_method,
            :transaction_id, :processed_at, :created_at)
        RETURNING id
    ), mirror AS (
        INSERT INTO transactions (payment_id, order_transaction_id, type, status, amount,
            currency, reference, processed_at, created_at)
        SELECT payment.id, ot.id, :kind, :status, :amount, :currency, :transaction_id,
            :processed_at, :created_at
        FROM payment, ot
    ), enhanced AS (
        INSERT INTO transactions_enhanced (order_id, kind, gateway, status, amount, currency,
            processed_at, error_code, "authorization", test, message, payment_details,
            receipt, parent_id, created_at)
        SELECT :order_id, :kind, :gateway, :status, :amount, :currency, :processed_at,
            :error_code, :authorization_code, :test, :message,
            CASE WHEN CAST(:card_brand AS varchar) IS NULL
                  AND CAST(:card_last4 AS varchar) IS NULL THEN NULL
                 ELSE jsonb_build_object('cardBrand', CAST(:card_brand AS varchar),
                                         'cardLast4', CAST(:card_last4 AS varchar)) END,
            jsonb_build_object('orderTransactionId', ot.id,
                               'transactionId', CAST(:transaction_id AS varchar),
                               'giftCardId', CAST(:gift_card_id AS bigint)),
            (SELECT e.id FROM transactions_enhanced AS e
             WHERE e.order_id = :order_id
               AND CAST(e.receipt ->> 'orderTransactionId' AS INTEGER) = :parent_id
             LIMIT 1),
            :created_at
        FROM ot
    )
    SELECT id FROM ot
    """
)


def _transaction_values(
    transaction: OrderTransaction, payment_method: str, message: str | None
) -> dict[str, Any]:
    """_WITH_MIRRORS' parameters: every column of the order transaction, and the mirrors' own."""
    return column_values(transaction) | {
        "payment_method": payment_method,
        "test": transaction.gateway == TEST_GATEWAY,
        "message": message,
    }


# What placing reads, built once (kit.prepared runs them in the placement's transaction).
@functools.cache
def _catalog_rows(postgresql: bool) -> AnySelect:
    return (
        select(
            ProductVariant.id,
            ProductVariant.product_id,
            Product.title,
            ProductVariant.title,
            ProductVariant.sku,
            ProductVariant.price,
            ProductVariant.weight,
            ProductVariant.weight_unit,
            ProductVariant.taxable,
            ProductVariant.requires_shipping,
            InventoryItem.id,
            InventoryItem.tracked,
            ProductVariant.inventory_policy,
        )
        .join(Product, Product.id == ProductVariant.product_id)
        .outerjoin(InventoryItem, InventoryItem.product_variant_id == ProductVariant.id)
        .where(
            one_of(ProductVariant.id, "variant_ids", postgresql=postgresql),
            Product.deleted_at.is_(None),
        )
    )


@functools.cache
def _stock_candidates(postgresql: bool, at_location: bool) -> AnySelect:
    statement: AnySelect = (
        select(
            InventoryLevel.inventory_item_id,
            InventoryLevel.location_id,
            InventoryLevel.available,
        )
        .join(Location, Location.id == InventoryLevel.location_id)
        .where(
            one_of(InventoryLevel.inventory_item_id, "item_ids", postgresql=postgresql),
            Location.active,
        )
        .order_by(InventoryLevel.inventory_item_id, InventoryLevel.location_id)
    )
    if at_location:
        statement = statement.where(InventoryLevel.location_id == bindparam("location_id"))
    return statement


_CUSTOMER_FACTS = select(Customer.email, Customer.email_hash, Customer.tax_exempt).where(
    Customer.id == bindparam("customer_id")
)
_NEXT_ORDER_NUMBER = text(f"SELECT nextval('{ORDER_NUMBER_SEQUENCE}')")


# lock_placed's reads on PostgreSQL, every column in its table's order (attach_loaded's).
_ORDERS = cast(Table, Order.__table__)
_LOCK_PLACED = (
    select(_ORDERS)
    .where(_ORDERS.c.id == bindparam("order_id"), *_placed())
    .with_for_update(of=_ORDERS)
)
# The locked order's lines and transactions in one statement (each an array of its table's
# rows), sent after the lock: a statement sees what committed before it began, so a read
# folded into the locking one would miss what the transaction it waited for wrote.
_LINES_AND_TRANSACTIONS_OF_ORDER = text(
    """
    SELECT
        (SELECT array_agg(l ORDER BY l.id) FROM order_line_items AS l
         WHERE l.order_id = :order_id) AS lines,
        (SELECT array_agg(t ORDER BY t.id) FROM order_transactions AS t
         WHERE t.order_id = :order_id) AS transactions
    """
)


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # --- what placing reads --------------------------------------------------------------

    async def catalog_rows(self, variant_ids: Collection[int]) -> dict[int, CatalogRow]:
        """Price, titles, SKU, weight, tax and shipping flags and the inventory item of each
        live variant, in one query."""
        if not variant_ids:
            return {}
        rows = await prepared.fetch_in_transaction(
            self.session,
            _catalog_rows(self._dialect == "postgresql"),
            {"variant_ids": sorted(variant_ids)},
        )
        found: dict[int, CatalogRow] = {}
        for row in rows:
            values: tuple[Any, ...] = tuple(row)
            found[row[0]] = CatalogRow(*values)
        return found

    async def customer_facts(self, customer_id: int) -> CustomerFacts | None:
        rows = await prepared.fetch_in_transaction(
            self.session, _CUSTOMER_FACTS, {"customer_id": customer_id}
        )
        return CustomerFacts(*rows[0]) if rows else None

    async def stock_candidates(
        self, item_ids: Collection[int], location_id: int | None
    ) -> list[StockCandidate]:
        """The items' levels at active locations, in (item, location) order."""
        if not item_ids:
            return []
        statement = _stock_candidates(self._dialect == "postgresql", location_id is not None)
        rows = await prepared.fetch_in_transaction(
            self.session, statement, {"item_ids": sorted(item_ids), "location_id": location_id}
        )
        return [StockCandidate(*row) for row in rows]

    async def location_active(self, location_id: int) -> bool | None:
        found: bool | None = await self.session.scalar(
            select(Location.active).where(Location.id == location_id)
        )
        return found

    # --- writing an order ----------------------------------------------------------------

    async def next_order_number(self) -> int:
        """The next order number; unique and increasing under concurrency (see models)."""
        if self._dialect == "postgresql":
            (row,) = await prepared.fetch_in_transaction(self.session, _NEXT_ORDER_NUMBER, {})
            value = row[0]
        else:
            value = await self.session.scalar(
                update(OrderNumberCounter)
                .where(OrderNumberCounter.name == ORDER_COUNTER)
                .values(last_value=OrderNumberCounter.last_value + 1)
                .returning(OrderNumberCounter.last_value)
            )
        if value is None:
            raise RuntimeError("the order number counter is missing (migration 0015)")
        return int(value)

    async def add(self, order: Order, lines: Sequence[OrderLineItem]) -> Order:
        """The new order and its lines, persistent with their ids (two INSERTs, by Core:
        kit.models.insert_rows)."""
        await insert_rows(self.session, [order])
        for line in lines:
            line.order_id = order.id
        await insert_rows(self.session, lines)
        return order

    async def add_transaction(
        self,
        transaction: OrderTransaction,
        *,
        payment_method: str,
        message: str | None = None,
    ) -> OrderTransaction:
        """The order transaction (the source of truth) and its two mirrors, in the caller's
        transaction: the gateway side's `payments` row with its one `transactions` row, and
        Shopify's shape of it, a `transactions_enhanced` row (see enhanced_columns) holding
        the gateway's `message`. The transaction comes back persistent, with its id.

        On PostgreSQL one statement writes the four rows (one round trip instead of four: it
        runs in every placement, capture and refund); elsewhere four INSERTs, the mirrors
        naming the order transaction's id once it is flushed. Nothing reads the mirrors back
        as objects."""
        if transaction.created_at is None:
            transaction.created_at = utcnow()
        if self._dialect == "postgresql":
            values = _transaction_values(transaction, payment_method, message)
            (written,) = await prepared.fetch_in_transaction(self.session, _WITH_MIRRORS, values)
            transaction.id = written[0]
            attach_inserted(self.session, transaction)
            return transaction
        self.session.add(transaction)
        await self.session.flush()
        payment_id = await self.session.scalar(
            insert(PAYMENTS).returning(PAYMENTS.c.id),
            {
                "order_id": transaction.order_id,
                "gateway": transaction.gateway,
                "status": transaction.status,
                "amount": transaction.amount,
                "currency": transaction.currency,
                "payment_method": payment_method,
                "transaction_id": transaction.transaction_id,
                "processed_at": transaction.processed_at,
            },
        )
        await self.session.execute(
            insert(TRANSACTIONS),
            {
                "payment_id": payment_id,
                "order_transaction_id": transaction.id,
                "type": transaction.kind,
                "status": transaction.status,
                "amount": transaction.amount,
                "currency": transaction.currency,
                "reference": transaction.transaction_id,
                "processed_at": transaction.processed_at,
            },
        )
        # values(), not parameters: the parent's id is a subquery (enhanced_columns).
        await self.session.execute(
            insert(TRANSACTIONS_ENHANCED).values(**enhanced_columns(transaction), message=message)
        )
        return transaction

    async def mark_placed(
        self, order_id: int, *, financial_status: str, gateway: str | None, now: datetime
    ) -> Order | None:
        """The reservation becomes a placed order; None if it is no longer a reservation
        (the release job took it: its time ran out)."""
        statement = (
            update(Order)
            .where(Order.id == order_id, Order.reserved_until.is_not(None))
            .values(
                reserved_until=None,
                financial_status=financial_status,
                gateway=gateway,
                processed_at=now,
                updated_at=now,
                version=Order.version + 1,
            )
            .returning(Order)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def set_unsettled_payment(self, order_id: int, kind: str, reference: str) -> None:
        await self.session.execute(
            update(Order)
            .where(Order.id == order_id, Order.reserved_until.is_not(None))
            .values(unsettled_payment_kind=kind, unsettled_payment_reference=reference)
            .execution_options(synchronize_session=False)
        )

    # --- reservations --------------------------------------------------------------------

    async def lock_reservation(self, order_id: int) -> Order | None:
        """The reservation with its lines and transactions, locked against a concurrent
        release or placement; None once it is placed or gone."""
        statement = (
            select(Order)
            .where(Order.id == order_id, Order.reserved_until.is_not(None))
            .options(selectinload(Order.line_items), selectinload(Order.transactions))
            .execution_options(populate_existing=True)
        )
        if self._dialect == "postgresql":
            statement = statement.with_for_update(of=Order)
        return (await self.session.scalars(statement)).one_or_none()

    async def expired_reservations(self, now: datetime, limit: int) -> list[int]:
        rows = await self.session.scalars(
            select(Order.id)
            .where(Order.reserved_until.is_not(None), Order.reserved_until < now)
            .order_by(Order.reserved_until, Order.id)
            .limit(limit)
        )
        return list(rows)

    async def reserved_until(self, order_id: int) -> datetime | None:
        found: datetime | None = await self.session.scalar(
            select(Order.reserved_until).where(Order.id == order_id)
        )
        return found

    async def unsettled_payment(self, order_id: int) -> UnsettledPayment | None:
        row = (
            await self.session.execute(
                select(
                    Order.gateway,
                    Order.unsettled_payment_kind,
                    Order.unsettled_payment_reference,
                    Order.total_price,
                    Order.currency,
                ).where(Order.id == order_id, Order.reserved_until.is_not(None))
            )
        ).one_or_none()
        if row is None or row[0] is None or row[1] is None or row[2] is None:
            return None
        gift_cards = await self.session.scalar(
            select(func.coalesce(func.sum(OrderTransaction.amount), Decimal(0))).where(
                OrderTransaction.order_id == order_id,
                OrderTransaction.gift_card_id.is_not(None),
                OrderTransaction.status == "success",
            )
        )
        return UnsettledPayment(row[0], row[1], row[2], row[3] - Decimal(gift_cards or 0), row[4])

    async def delete(self, order_id: int) -> None:
        # The mirrors go by their foreign keys (payments and line items cascade).
        await self.session.execute(
            delete(Order).where(Order.id == order_id).execution_options(synchronize_session=False)
        )

    async def by_idempotency_token(self, token: str) -> Order | None:
        """The order (placed or a reservation) written under this Idempotency-Key token,
        with its lines and transactions."""
        return (
            await self.session.scalars(
                select(Order)
                .where(Order.idempotency_token == token)
                .options(selectinload(Order.line_items), selectinload(Order.transactions))
                .execution_options(populate_existing=True)
            )
        ).one_or_none()

    # --- changing placed orders ----------------------------------------------------------

    async def lock_placed(self, order_id: int) -> Order | None:
        """The placed order with its lines and transactions, its row locked (FOR UPDATE on
        PostgreSQL; SQLite's request already holds the one write lock) until the caller's
        transaction ends, and read fresh after the lock is taken. Every change to a placed
        order (a capture, a refund, a fulfillment, a cancellation) takes this lock first, so
        two of them never both read the same quantities or amounts as still available.
        None if there is no such placed order."""
        # Whatever the caller changes, the order's cached document must go once it commits
        # (no order list is cached: listing=False).
        journal.note(self.session, journal.ORDER, [order_id], listing=False)
        if self._dialect == "postgresql":
            return await self._lock_placed_prepared(order_id)
        statement = (
            select(Order)
            .where(Order.id == order_id, *_placed())
            .options(selectinload(Order.line_items), selectinload(Order.transactions))
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def _lock_placed_prepared(self, order_id: int) -> Order | None:
        """PostgreSQL's lock_placed: the ORM's load in two prepared statements (the order FOR
        UPDATE, then its lines and transactions), the objects made as the ORM's load makes
        them (kit.models.attach_loaded). Every lifecycle operation runs it; the ORM's load
        (three statements) cost three times as much."""
        values = {"order_id": order_id}
        found = await prepared.fetch_in_transaction(self.session, _LOCK_PLACED, values)
        if not found:
            return None
        order: Order = attach_loaded(self.session, Order, found[0])
        ((lines, transactions),) = await prepared.fetch_in_transaction(
            self.session, _LINES_AND_TRANSACTIONS_OF_ORDER, values
        )
        set_committed_value(order, "line_items", self._loaded(OrderLineItem, lines))
        set_committed_value(order, "transactions", self._loaded(OrderTransaction, transactions))
        return order

    def _loaded(self, model: type[Base], rows: Sequence[Any] | None) -> list[Any]:
        """The session's objects for rows of `model`'s table read as a composite array: its
        fields come in the table's physical order (columns added by later migrations last),
        so they are taken by name into the model's order."""
        names = [column.name for column in cast(Table, model.__table__).c]
        return [
            attach_loaded(self.session, model, [row[name] for name in names]) for row in rows or ()
        ]

    # --- reading placed orders -----------------------------------------------------------

    async def get_placed(self, order_id: int) -> Order | None:
        return (
            await self.session.scalars(
                select(Order)
                .where(Order.id == order_id, *_placed())
                .options(selectinload(Order.line_items), selectinload(Order.transactions))
            )
        ).one_or_none()

    def _filtered(self, filters: OrderFilters, *columns: Any) -> AnySelect:
        statement: AnySelect = select(*(columns or (Order,))).where(*_placed())
        statement = statement.where(*status_conditions(filters.status))
        for name, condition in FILTER_CONDITIONS.items():
            value = getattr(filters, name)
            if value is not None:
                statement = statement.where(condition(value))
        return statement

    async def page(
        self,
        filters: OrderFilters,
        *,
        sort: str,
        direction: Direction,
        page: PageRequest,
        cursor: Cursor | None,
    ) -> RowsPage[Order]:
        """A page in ORDER BY (sort key, id): each filter + createdAt walks its
        (filter, created_at, id) index, each sort its (key, id) index."""
        return await read_page(
            self.session,
            self._filtered(filters),
            sort_column=SORT_COLUMNS[sort],
            id_column=Order.id,
            direction=direction,
            page=page.page,
            page_size=page.page_size,
            cursor=cursor,
            sort_name=sort,
            with_total=page.with_total,
            nulls_last=sort == "number",
        )

    async def page_ids(
        self,
        filters: OrderFilters,
        *,
        sort: str,
        direction: Direction,
        page: PageRequest,
        cursor: Cursor | None,
    ) -> RowsPage[int]:
        """`page` as the orders' ids alone: what the list's indexes hold. Their documents are
        built by a second statement (OrderDocumentRepository.summaries) for the page's rows
        only, since PostgreSQL would build one for every row an offset skips."""
        await read_connection(self.session)
        return await read_page(
            self.session,
            self._filtered(filters, Order.id),
            sort_column=SORT_COLUMNS[sort],
            id_column=Order.id,
            direction=direction,
            page=page.page,
            page_size=page.page_size,
            cursor=cursor,
            sort_name=sort,
            with_total=page.with_total,
            nulls_last=sort == "number",
        )

    async def count(self, filters: OrderFilters) -> int:
        """How many placed orders match (a list's totalCount)."""
        await read_connection(self.session)
        return await count_rows(self.session, self._filtered(filters, Order.id))

    async def customer_stats(self, customer_ids: Collection[int]) -> dict[int, CustomerStats]:
        """orders_count and total_spent per customer, in one GROUP BY over the
        (customer_id, created_at, id) index of placed orders. Cancelled orders count, as
        Shopify's orders_count; total_spent leaves them out."""
        if not customer_ids:
            return {}
        spent = func.coalesce(
            func.sum(Order.total_price).filter(Order.cancelled_at.is_(None)), Decimal(0)
        )
        rows = await self.session.execute(
            select(Order.customer_id, func.count(), spent)
            .where(Order.customer_id.in_(sorted(customer_ids)), *_placed())
            .group_by(Order.customer_id)
        )
        return {
            row[0]: CustomerStats(int(row[1]), Decimal(row[2]))
            for row in rows
            if row[0] is not None
        }

    # --- an order's payment transactions (orders/transactions) ---------------------------

    async def placed_transactions(self, order_id: int) -> list[OrderTransaction] | None:
        """The placed order's transactions, oldest first; None if there is no such order."""
        found = await self.session.scalar(select(Order.id).where(Order.id == order_id, *_placed()))
        if found is None:
            return None
        rows = await self.session.scalars(
            select(OrderTransaction)
            .where(OrderTransaction.order_id == order_id)
            .order_by(OrderTransaction.id)
        )
        return list(rows)

    async def set_transaction_message(self, transaction: OrderTransaction, message: str) -> None:
        """The gateway's message, kept on the transaction's `transactions_enhanced` mirror
        (Shopify's `message`; order_transactions has no column for it)."""
        await self.session.execute(
            update(TransactionEnhanced)
            .where(
                TransactionEnhanced.order_id == transaction.order_id,
                TransactionEnhanced.receipt["orderTransactionId"].as_integer() == transaction.id,
            )
            .values(message=message)
            .execution_options(synchronize_session=False)
        )

    async def transaction_messages(self, order_id: int) -> dict[int, str]:
        """The gateway messages of an order's transactions, by order transaction id."""
        rows = await self.session.execute(
            select(
                TransactionEnhanced.receipt["orderTransactionId"].as_integer(),
                TransactionEnhanced.message,
            ).where(
                TransactionEnhanced.order_id == order_id, TransactionEnhanced.message.is_not(None)
            )
        )
        return {int(row[0]): row[1] for row in rows if row[0] is not None}

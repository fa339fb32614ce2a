"""Orders, their line items, transactions, fulfillments, refunds and abandoned checkouts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopdb.kit.models import (
    Base,
    CreatedAtMixin,
    IdMixin,
    SoftDeleteMixin,
    TimestampMixin,
    VersionMixin,
)
from shopdb.kit.types import BigIntId, JSONType, Money, UTCDateTime
from shopdb.models.catalog import DOCUMENT_ROW_TARGET
from shopdb.models.customers import ENCRYPTED_EMAIL_LENGTH

# The cipher context of orders.email (bound into the ciphertext as associated data).
ORDER_EMAIL = "orders.email"

# Orders a list shows: placed (not a reservation awaiting its payment) and not deleted. The
# list's indexes cover only these rows, so a reservation never costs a list anything.
PLACED_ROWS: dict[str, Any] = {
    "postgresql_where": sa.text("reserved_until IS NULL AND deleted_at IS NULL"),
    "sqlite_where": sa.text("reserved_until IS NULL AND deleted_at IS NULL"),
}
# Order numbers on PostgreSQL: a sequence hands out #1001, #1002... without a lock held to
# commit (a counter row would serialise every placement behind it). SQLite runs one writer at
# a time, so there the counter row below is as good, and it is what SQLite has.
ORDER_NUMBER_SEQUENCE = "order_numbers"
FIRST_ORDER_NUMBER = 1001
# The list's sorts (order_number is unique on its own) and its filters, each followed by the
# default sort: every filter + createdAt sort walks one index range, newest first or last.
ORDER_SORT_COLUMNS = ("created_at", "updated_at", "total_price")
ORDER_FILTER_COLUMNS = ("customer_id", "email_hash", "financial_status", "fulfillment_status")
# The status filter's rows (OrderRepository._filtered), each with its own (created_at, id)
# index: a status is a pair of nullable timestamps, which no index above can filter on, so a
# deep page of cancelled orders read every order newer than it, row by row from the table.
ORDER_STATUS_ROWS = {
    "open": "closed_at IS NULL AND cancelled_at IS NULL",
    "closed": "closed_at IS NOT NULL",
    "cancelled": "cancelled_at IS NOT NULL",
}

# The filters' columns, carried by each sort's index (PostgreSQL): a filter beside another sort
# than createdAt is checked on the index's entries, not on rows read from the table. An open,
# paid page by price read ~13,000 rows to find its 50 (24 ms; 1-3 ms on the index alone).
FILTERED_IN_INDEX: dict[str, Any] = {
    "postgresql_include": ["financial_status", "fulfillment_status", "closed_at", "cancelled_at"]
}


def _placed_and(condition: str) -> dict[str, Any]:
    where = f"reserved_until IS NULL AND deleted_at IS NULL AND {condition}"
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}


class Order(IdMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("number"),
        Index("ix_orders_customer_id", "customer_id"),
        Index("ix_orders_email", "email"),
        Index("ix_orders_email_hash", "email_hash"),
        Index("ix_orders_number", "number"),
        Index("ix_orders_financial_status", "financial_status"),
        Index("ix_orders_fulfillment_status", "fulfillment_status"),
        Index("ix_orders_processed_at", "processed_at"),
        Index("ix_orders_created_at", "created_at"),
        Index("ux_orders_order_number", "order_number", unique=True),
        *(
            Index(f"ix_orders_{c}_id", c, "id", **PLACED_ROWS, **FILTERED_IN_INDEX)
            for c in ORDER_SORT_COLUMNS
        ),
        *(
            Index(f"ix_orders_{c}_created_at_id", c, "created_at", "id", **PLACED_ROWS)
            for c in ORDER_FILTER_COLUMNS
        ),
        *(
            Index(f"ix_orders_{status}_created_at_id", "created_at", "id", **_placed_and(rows))
            for status, rows in ORDER_STATUS_ROWS.items()
        ),
        # The `number` sort: ux_orders_order_number holds reservations too, whose rows a page
        # had to read from the table to leave out.
        Index(
            "ix_orders_order_number_id", "order_number", "id", **PLACED_ROWS, **FILTERED_IN_INDEX
        ),
        # The release job finds expired reservations without reading placed orders.
        Index(
            "ix_orders_reserved_until",
            "reserved_until",
            postgresql_where=sa.text("reserved_until IS NOT NULL"),
            sqlite_where=sa.text("reserved_until IS NOT NULL"),
        ),
        Index(
            "ux_orders_idempotency_token",
            "idempotency_token",
            unique=True,
            postgresql_where=sa.text("idempotency_token IS NOT NULL"),
            sqlite_where=sa.text("idempotency_token IS NOT NULL"),
        ),
        # Orders on payment terms only (most orders have no company): a company's orders and
        # balance, and the foreign keys' ON DELETE SET NULL, read these.
        *(
            Index(
                f"ix_orders_{c}",
                c,
                postgresql_where=sa.text(f"{c} IS NOT NULL"),
                sqlite_where=sa.text(f"{c} IS NOT NULL"),
            )
            for c in ("company_id", "payment_terms_id")
        ),
    )

    customer_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )
    # AES-GCM ciphertext (shopdb.kit.crypto, context ORDER_EMAIL), widened from the seed's 255
    # like customers.email; `email_hash` is its keyed blind index, for lookups by email. The
    # hash is null only for a plaintext row left from before encryption, until
    # `shopdb migrate` seals it.
    email: Mapped[str] = mapped_column(String(ENCRYPTED_EMAIL_LENGTH), nullable=False)
    email_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    number: Mapped[str] = mapped_column(String(255), nullable=False)
    total_price: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    subtotal_price: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    total_tax: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    currency: Mapped[str] = mapped_column(
        String(3), nullable=False, default="USD", server_default="USD"
    )
    financial_status: Mapped[str] = mapped_column(
        String(50), nullable=False, default="pending", server_default="pending"
    )
    fulfillment_status: Mapped[str] = mapped_column(
        String(50), nullable=False, default="unfulfilled", server_default="unfulfilled"
    )
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(50), nullable=True)
    # Shopify's order_number (1001, 1002...); `number` is its name, "#1001". Null only for a
    # row written before numbering (the seed's table had no counter).
    order_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # subtotal_price - total_discounts + total_shipping (+ total_tax unless taxes_included)
    # = total_price, in the order's currency.
    total_discounts: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    total_shipping: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    taxes_included: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sa.false()
    )
    tax_lines: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    # Priced in a market's currency (shopdb.markets.pricing): the same order in the currency
    # the buyer saw, at `presentment_exchange_rate` (units per unit of `currency`). The
    # amounts add up as the shop's do: presentment_subtotal_price - presentment_total_discounts
    # + presentment_total_shipping (+ presentment_total_tax unless taxes_included) =
    # presentment_total_price. All null for an order priced in the shop's currency only.
    presentment_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    presentment_exchange_rate: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(18, 8), nullable=True
    )
    presentment_subtotal_price: Mapped[Decimal | None] = mapped_column(Money(14, 2), nullable=True)
    presentment_total_discounts: Mapped[Decimal | None] = mapped_column(Money(14, 2), nullable=True)
    presentment_total_shipping: Mapped[Decimal | None] = mapped_column(Money(14, 2), nullable=True)
    presentment_total_tax: Mapped[Decimal | None] = mapped_column(Money(14, 2), nullable=True)
    presentment_total_price: Mapped[Decimal | None] = mapped_column(Money(14, 2), nullable=True)
    discount_code: Mapped[str | None] = mapped_column(String(255), nullable=True)
    discount_code_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("discount_codes.id", ondelete="SET NULL"), nullable=True
    )
    shipping_line: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    tags: Mapped[str | None] = mapped_column(Text, nullable=True)
    gateway: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Set while the order is a reservation (stock committed, codes and gift cards taken,
    # payment not yet recorded); null once placed. Past it, the worker releases the order.
    reserved_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A gateway payment (authorization or sale) that a failed placement could not undo at
    # once: the release job voids (or refunds) it before it releases the reservation.
    unsettled_payment_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    unsettled_payment_reference: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Placed under an Idempotency-Key: a hash of the caller and the key (never the key), so
    # that a retry whose key's stored response was lost finds this order instead of placing
    # a second one (orders.placement). Unique where set (ux_orders_idempotency_token).
    idempotency_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # B2B payment terms (shopdb.companies.terms): the company the order was placed for on
    # terms, the term chosen and what it said then (`payment_terms`: netDays,
    # discountPercentage, earlyPaymentDiscountDays, latePaymentFeePercentage), when payment
    # is due, and how much of the company's credit the order still holds (zero once paid,
    # cancelled or refunded). An early-payment discount granted, or a late fee charged, when
    # the order is paid changes what is due: total_price - early_payment_discount + late_fee.
    company_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("companies.id", ondelete="SET NULL"), nullable=True
    )
    payment_terms_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("b2b_payment_terms.id", ondelete="SET NULL"), nullable=True
    )
    payment_terms: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    payment_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    credit_held: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    early_payment_discount: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    late_fee: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )

    line_items: Mapped[list[OrderLineItem]] = relationship(
        back_populates="order",
        order_by="OrderLineItem.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )
    transactions: Mapped[list[OrderTransaction]] = relationship(
        back_populates="order",
        order_by="OrderTransaction.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )
    fulfillments: Mapped[list[OrderFulfillment]] = relationship(
        back_populates="order",
        order_by="OrderFulfillment.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )
    refunds: Mapped[list[OrderRefund]] = relationship(
        back_populates="order",
        order_by="OrderRefund.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class OrderDocumentStore(Base):
    """Each placed order's finished JSON, its list summary and its detail, kept between reads
    (not in the seed): what catalog.ProductDocument is for products, and kept current the
    same way (orders/stored.py).

    PostgreSQL builds a summary from ~35 columns (timestamps formatted, tags split) and a
    detail from six tables; a list page of 50 built 50 summaries per request. Here each is
    built once per change of its order and stored. `stamp` counts the committed changes to
    the order: every transaction that changes a placed order (the change journal's ORDER
    notes, the same that invalidate the order cache) bumps it just before it commits. A
    summary is current while `summary_stamp` equals `stamp`, a detail while `detail_stamp`
    equals it and `version` is the order's: each is stored on its first read after a change,
    and only if the stamp its reader read is still the row's.

    No foreign key to orders, as for product documents: a reader's INSERT would take a
    key-share lock on the order row that a lifecycle change holds FOR UPDATE. Reads join
    orders (a deleted order's row is never served); the bump removes the rows of orders
    deleted for good. Only documents whose email is sealed are stored. Unused on SQLite.
    """

    __tablename__ = "order_documents"
    __table_args__ = (
        CheckConstraint("summary_stamp <= stamp", name="summary_stamp"),
        CheckConstraint("detail_stamp <= stamp", name="detail_stamp"),
        {"postgresql_with": {"toast_tuple_target": DOCUMENT_ROW_TARGET}},
    )

    order_id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=False)
    stamp: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    summary_stamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail_stamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the detail's order's
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class OrderLineItem(IdMixin, TimestampMixin, Base):
    __tablename__ = "order_line_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("price >= 0", name="price"),
        CheckConstraint(
            "fulfilled_quantity >= 0 AND fulfilled_quantity <= quantity",
            name="fulfilled_quantity",
        ),
        CheckConstraint(
            "removed_quantity >= 0 AND fulfilled_quantity + removed_quantity <= quantity",
            name="removed_quantity",
        ),
        Index("ix_order_line_items_order_id", "order_id"),
        Index("ix_order_line_items_product_variant_id", "product_variant_id"),
        Index("ix_order_line_items_sku", "sku"),
        Index("ix_order_line_items_selling_plan_id", "selling_plan_id"),
    )

    order_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    product_variant_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("product_variants.id", ondelete="SET NULL"), nullable=True
    )
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    price: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    sku: Mapped[str | None] = mapped_column(String(255), nullable=True)
    fulfilled_quantity: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    # Units taken off the order before they were fulfilled (refunded or cancelled unshipped):
    # they will never be fulfilled. quantity - fulfilled_quantity - removed_quantity is what is
    # left to fulfil (Shopify's fulfillable quantity).
    removed_quantity: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    variant_title: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The line's share of the order's discount; the shares add up to total_discounts.
    total_discount: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    taxable: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=sa.true()
    )
    requires_shipping: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=sa.true()
    )
    grams: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # The unit price and the discount share in the order's presentment currency (null when
    # the order has none): price converted at the order's rate and rounded by its rule.
    presentment_price: Mapped[Decimal | None] = mapped_column(Money(14, 2), nullable=True)
    presentment_total_discount: Mapped[Decimal | None] = mapped_column(Money(14, 2), nullable=True)
    # Where the line's units were committed (null: an untracked item, nothing committed).
    inventory_item_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("inventory_items.id", ondelete="SET NULL"), nullable=True
    )
    location_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("locations.id", ondelete="SET NULL"), nullable=True
    )
    # The selling plan the line was sold under (its price set by the plan's pricing policy).
    selling_plan_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("selling_plans.id", ondelete="SET NULL"), nullable=True
    )

    order: Mapped[Order] = relationship(back_populates="line_items", lazy="raise")


class OrderTransaction(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "order_transactions"
    __table_args__ = (
        Index("ix_order_transactions_order_id", "order_id"),
        Index("ix_order_transactions_gateway", "gateway"),
        Index("ix_order_transactions_status", "status"),
        Index("ix_order_transactions_transaction_id", "transaction_id"),
        Index("ix_order_transactions_parent_id", "parent_id"),
    )

    order_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(50), nullable=False)
    gateway: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(String(50), nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    # The transaction this one acts on: a capture's or void's authorization, a refund's
    # capture or sale.
    parent_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("order_transactions.id", ondelete="CASCADE"), nullable=True
    )
    authorization_code: Mapped[str | None] = mapped_column(String(255), nullable=True)
    transaction_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Ours, stable across gateways (card_declined, insufficient_funds...); null on success.
    error_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Only a card's brand and last four digits are ever stored.
    card_brand: Mapped[str | None] = mapped_column(String(50), nullable=True)
    card_last4: Mapped[str | None] = mapped_column(String(4), nullable=True)
    # gateway "gift_card": the card debited, credited back if the order is released.
    gift_card_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("gift_cards.id", ondelete="SET NULL"), nullable=True
    )

    order: Mapped[Order] = relationship(back_populates="transactions", lazy="raise")


class OrderNumberCounter(Base):
    """SQLite's order numbers: one row per counter, advanced by UPDATE ... RETURNING inside the
    placing transaction (PostgreSQL uses the ORDER_NUMBER_SEQUENCE sequence instead)."""

    __tablename__ = "order_number_counters"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger, nullable=False)


class OrderFulfillment(IdMixin, TimestampMixin, Base):
    __tablename__ = "order_fulfillments"
    __table_args__ = (
        Index("ix_order_fulfillments_order_id", "order_id"),
        Index("ix_order_fulfillments_status", "status"),
        Index("ix_order_fulfillments_tracking_number", "tracking_number"),
        Index("ux_order_fulfillments_fulfillment_id", "fulfillment_id", unique=True),
    )

    order_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(
        String(50), nullable=False, default="pending", server_default="pending"
    )
    tracking_company: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tracking_number: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tracking_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The mirror of fulfillments_enhanced (the source of truth, with its line items): the
    # fulfillment this row restates (first tracking number and URL); null only for rows from
    # before issue 13 (migration 0022).
    fulfillment_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("fulfillments_enhanced.id", ondelete="CASCADE"), nullable=True
    )

    order: Mapped[Order] = relationship(back_populates="fulfillments", lazy="raise")


class OrderRefund(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "order_refunds"
    __table_args__ = (
        Index("ix_order_refunds_order_id", "order_id"),
        Index("ix_order_refunds_processed_at", "processed_at"),
    )

    order_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    # The money refunded (the successful refund transactions' sum).
    amount: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # What the refund was worth (issue 13): its lines after discounts, their tax and the
    # shipping's, and the shipping refunded (before its tax).
    subtotal: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    total_tax: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    shipping_amount: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )

    order: Mapped[Order] = relationship(back_populates="refunds", lazy="raise")


class AbandonedCheckout(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "abandoned_checkouts"
    __table_args__ = (
        Index("ix_abandoned_checkouts_customer_id", "customer_id"),
        Index("ix_abandoned_checkouts_email", "email"),
        Index("ix_abandoned_checkouts_abandoned_at", "abandoned_at"),
        Index("ix_abandoned_checkouts_email_hash", "email_hash"),
        Index("ux_abandoned_checkouts_token", "token", unique=True),
    )

    customer_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )
    # Sealed like orders.email (migration 0018), with the customers' blind index; `token` is
    # the checkout's, matching this mirror row to abandoned_checkouts_enhanced.
    email: Mapped[str] = mapped_column(String(ENCRYPTED_EMAIL_LENGTH), nullable=False)
    email_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    token: Mapped[str | None] = mapped_column(String(255), nullable=True)
    total_price: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    abandoned_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TransactionEnhanced(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "transactions_enhanced"
    __table_args__ = (
        Index("ix_transactions_enhanced_order_id", "order_id"),
        Index("ix_transactions_enhanced_kind", "kind"),
        Index("ix_transactions_enhanced_status", "status"),
        Index("ix_transactions_enhanced_gateway", "gateway"),
        Index("ix_transactions_enhanced_created_at", "created_at"),
    )

    order_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(50), nullable=False)
    gateway: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(String(50), nullable=False)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    test: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sa.false()
    )
    authorization: Mapped[str | None] = mapped_column(String(255), nullable=True)
    location_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("locations.id"), nullable=True
    )
    user_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("users.id"), nullable=True)
    parent_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("transactions_enhanced.id"), nullable=True
    )
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    device_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    source_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    payment_details: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    currency_exchange_adjustment: Mapped[dict[str, Any] | None] = mapped_column(
        JSONType, nullable=True
    )
    amount: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)


class FulfillmentEnhanced(IdMixin, TimestampMixin, Base):
    __tablename__ = "fulfillments_enhanced"
    __table_args__ = (
        Index("ix_fulfillments_enhanced_order_id", "order_id"),
        Index("ix_fulfillments_enhanced_status", "status"),
        Index("ix_fulfillments_enhanced_location_id", "location_id"),
        Index("ix_fulfillments_enhanced_created_at", "created_at"),
    )

    order_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(
        String(50), nullable=False, default="pending", server_default="pending"
    )
    tracking_company: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tracking_numbers: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    tracking_urls: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    location_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("locations.id"), nullable=True
    )
    shipment_status: Mapped[str | None] = mapped_column(String(100), nullable=True)
    service: Mapped[str | None] = mapped_column(String(255), nullable=True)
    variant_inventory_management: Mapped[str | None] = mapped_column(String(100), nullable=True)
    origin_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    destination: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)

    line_items: Mapped[list[FulfillmentLineItem]] = relationship(
        back_populates="fulfillment",
        order_by="FulfillmentLineItem.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class FulfillmentLineItem(IdMixin, Base):
    __tablename__ = "fulfillment_line_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        Index("ix_fulfillment_line_items_fulfillment_id", "fulfillment_id"),
        Index("ix_fulfillment_line_items_line_item_id", "line_item_id"),
    )

    fulfillment_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("fulfillments_enhanced.id", ondelete="CASCADE"), nullable=False
    )
    line_item_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("order_line_items.id", ondelete="CASCADE"), nullable=False
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)

    fulfillment: Mapped[FulfillmentEnhanced] = relationship(
        back_populates="line_items", lazy="raise"
    )


class AbandonedCheckoutEnhanced(IdMixin, TimestampMixin, Base):
    __tablename__ = "abandoned_checkouts_enhanced"
    __table_args__ = (
        UniqueConstraint("token"),
        Index("ix_abandoned_checkouts_enhanced_token", "token"),
        Index("ix_abandoned_checkouts_enhanced_email", "email"),
        Index("ix_abandoned_checkouts_enhanced_created_at", "created_at"),
        Index("ix_abandoned_checkouts_enhanced_completed_at", "completed_at"),
        Index("ix_abandoned_checkouts_enhanced_customer_id", "customer_id"),
        Index("ix_abandoned_checkouts_enhanced_email_hash", "email_hash"),
    )

    token: Mapped[str] = mapped_column(String(255), nullable=False)
    cart_token: Mapped[str | None] = mapped_column(String(255), nullable=True)
    email: Mapped[str | None] = mapped_column(String(ENCRYPTED_EMAIL_LENGTH), nullable=True)
    email_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    gateway: Mapped[str | None] = mapped_column(String(100), nullable=True)
    buyer_accepts_marketing: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sa.false()
    )
    landing_site: Mapped[str | None] = mapped_column(String(500), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    referring_site: Mapped[str | None] = mapped_column(String(500), nullable=True)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    currency: Mapped[str] = mapped_column(
        String(3), nullable=False, default="USD", server_default="USD"
    )
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    user_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("users.id"), nullable=True)
    location_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("locations.id"), nullable=True
    )
    source_identifier: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    device_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(50), nullable=True)
    customer_locale: Mapped[str | None] = mapped_column(String(10), nullable=True)
    line_items: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source: Mapped[str | None] = mapped_column(String(100), nullable=True)
    abandoned_checkout_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    discount_codes: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    tax_lines: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    source_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    presentment_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    buyer_accepts_sms_marketing: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sa.false()
    )
    sms_marketing_phone: Mapped[str | None] = mapped_column(String(50), nullable=True)
    total_discounts: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    total_line_items_price: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    total_price: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    total_tax: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    total_weight: Mapped[Decimal] = mapped_column(
        Money(8, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    taxes_included: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sa.false()
    )
    total_duties: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    subtotal_price: Mapped[Decimal] = mapped_column(
        Money(10, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    tax_exempt: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sa.false()
    )
    applied_discount: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    shipping_line: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    customer_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )


class FulfillmentService(IdMixin, TimestampMixin, Base):
    __tablename__ = "fulfillment_services"
    __table_args__ = (
        UniqueConstraint("handle"),
        Index("ix_fulfillment_services_handle", "handle"),
        Index("ix_fulfillment_services_service_type", "service_type"),
    )

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    handle: Mapped[str] = mapped_column(String(255), nullable=False)
    service_type: Mapped[str] = mapped_column(String(100), nullable=False)
    format: Mapped[str] = mapped_column(String(50), nullable=False)
    inventory_management: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sa.false()
    )
    tracking_support: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sa.false()
    )
    # The location whose stock the service ships (Shopify gives every fulfillment service
    # one): an order's lines committed there get a fulfillment order of this service.
    location_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("locations.id", ondelete="SET NULL"), nullable=True
    )


class FulfillmentOrder(IdMixin, TimestampMixin, Base):
    __tablename__ = "fulfillment_orders"
    __table_args__ = (
        Index("ix_fulfillment_orders_order_id", "order_id"),
        Index("ix_fulfillment_orders_fulfillment_service_id", "fulfillment_service_id"),
        Index("ix_fulfillment_orders_status", "status"),
    )

    order_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    fulfillment_service_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("fulfillment_services.id"), nullable=False
    )
    status: Mapped[str] = mapped_column(
        String(50), nullable=False, default="open", server_default="open"
    )
    destination: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Where the units ship from (Shopify's assigned_location); null for an order's untracked
    # lines when none of its lines is stocked anywhere. A location's own fulfillment orders
    # name the built-in `manual` service (models.fulfillments.MANUAL_SERVICE_HANDLE).
    assigned_location_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("locations.id", ondelete="SET NULL"), nullable=True
    )
    # Shopify's request_status: unsubmitted, submitted (asked of its service), accepted,
    # rejected, closed.
    request_status: Mapped[str] = mapped_column(
        String(20), nullable=False, default="unsubmitted", server_default="unsubmitted"
    )

"""Orders as placed: numbers, totals, reservations, line allocations and payment mirrors.

- orders: order_number (#1001...: a sequence on PostgreSQL, a counter row on SQLite), the
  totals the identity needs (total_discounts, total_shipping, taxes_included), what was
  applied (discount code, shipping line, tax lines, addresses, tags, gateway), and the
  reservation a placement holds until its payment is recorded (reserved_until), with an
  authorization it could not undo (unsettled_payment_*). The list's indexes cover placed,
  live rows: each filter followed by created_at, each sort followed by id.
- order_line_items: variant title, the line's discount share, taxable, requires_shipping,
  grams, and where its units were committed (inventory item, location).
- order_transactions: error code, card brand and last four digits, the gift card debited.
- transactions: the order_transactions row each mirrors (one to one).

Revision ID: 0015_orders_checkout
Revises: 0014_shipping_tax
Create Date: 2026-11-28 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shopdb.kit.types

revision: str = "0015_orders_checkout"
down_revision: str | None = "0014_shipping_tax"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_MONEY = sa.Numeric(precision=10, scale=2)
PLACED = sa.text("reserved_until IS NULL AND deleted_at IS NULL")
RESERVED = sa.text("reserved_until IS NOT NULL")
SORTS = ("created_at", "updated_at", "total_price")
FILTERS = ("customer_id", "email_hash", "financial_status", "fulfillment_status")
SEQUENCE = "order_numbers"
FIRST_NUMBER = 1001


def _list_indexes() -> dict[str, list[str]]:
    indexes = {f"ix_orders_{c}_id": [c, "id"] for c in SORTS}
    indexes.update({f"ix_orders_{c}_created_at_id": [c, "created_at", "id"] for c in FILTERS})
    return indexes


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("order_number", sa.BigInteger(), nullable=True))
        for name in ("total_discounts", "total_shipping"):
            batch.add_column(sa.Column(name, _MONEY, server_default="0", nullable=False))
        batch.add_column(
            sa.Column("taxes_included", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("tax_lines", _JSON, nullable=True))
        batch.add_column(sa.Column("discount_code", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("discount_code_id", _ID, nullable=True))
        for name in ("shipping_line", "shipping_address", "billing_address"):
            batch.add_column(sa.Column(name, _JSON, nullable=True))
        batch.add_column(sa.Column("tags", sa.Text(), nullable=True))
        batch.add_column(sa.Column("gateway", sa.String(length=100), nullable=True))
        batch.add_column(
            sa.Column("reserved_until", shopdb.kit.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("unsettled_payment_kind", sa.String(length=20), nullable=True))
        batch.add_column(
            sa.Column("unsettled_payment_reference", sa.String(length=255), nullable=True)
        )
        batch.create_foreign_key(
            op.f("fk_orders_discount_code_id"),
            "discount_codes",
            ["discount_code_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index("ux_orders_order_number", "orders", ["order_number"], unique=True)
    for name, columns in _list_indexes().items():
        op.create_index(name, "orders", columns, postgresql_where=PLACED, sqlite_where=PLACED)
    op.create_index(
        "ix_orders_reserved_until",
        "orders",
        ["reserved_until"],
        postgresql_where=RESERVED,
        sqlite_where=RESERVED,
    )

    with op.batch_alter_table("order_line_items") as batch:
        batch.add_column(sa.Column("variant_title", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("total_discount", _MONEY, server_default="0", nullable=False))
        for name in ("taxable", "requires_shipping"):
            batch.add_column(
                sa.Column(name, sa.Boolean(), server_default=sa.true(), nullable=False)
            )
        batch.add_column(sa.Column("grams", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("inventory_item_id", _ID, nullable=True))
        batch.add_column(sa.Column("location_id", _ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_order_line_items_inventory_item_id"),
            "inventory_items",
            ["inventory_item_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_foreign_key(
            op.f("fk_order_line_items_location_id"),
            "locations",
            ["location_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("order_transactions") as batch:
        batch.add_column(sa.Column("error_code", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("card_brand", sa.String(length=50), nullable=True))
        batch.add_column(sa.Column("card_last4", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("gift_card_id", _ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_order_transactions_gift_card_id"),
            "gift_cards",
            ["gift_card_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("order_transaction_id", _ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_transactions_order_transaction_id"),
            "order_transactions",
            ["order_transaction_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_unique_constraint(
            op.f("uq_transactions_order_transaction_id"), ["order_transaction_id"]
        )

    op.create_table(
        "order_number_counters",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_order_number_counters")),
    )
    # Numbers continue after any order already numbered.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE SEQUENCE {SEQUENCE} START WITH {FIRST_NUMBER}")
    else:
        op.execute(
            sa.text(
                "INSERT INTO order_number_counters (name, last_value) "
                "SELECT 'orders', COALESCE(MAX(order_number), :before) FROM orders"
            ).bindparams(before=FIRST_NUMBER - 1)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")
    op.drop_table("order_number_counters")

    with op.batch_alter_table("transactions") as batch:
        batch.drop_constraint(op.f("uq_transactions_order_transaction_id"), type_="unique")
        batch.drop_constraint(op.f("fk_transactions_order_transaction_id"), type_="foreignkey")
        batch.drop_column("order_transaction_id")

    with op.batch_alter_table("order_transactions") as batch:
        batch.drop_constraint(op.f("fk_order_transactions_gift_card_id"), type_="foreignkey")
        for name in ("gift_card_id", "card_last4", "card_brand", "error_code"):
            batch.drop_column(name)

    with op.batch_alter_table("order_line_items") as batch:
        batch.drop_constraint(op.f("fk_order_line_items_location_id"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_order_line_items_inventory_item_id"), type_="foreignkey")
        for name in (
            "location_id",
            "inventory_item_id",
            "grams",
            "requires_shipping",
            "taxable",
            "total_discount",
            "variant_title",
        ):
            batch.drop_column(name)

    op.drop_index("ix_orders_reserved_until", table_name="orders")
    for name in _list_indexes():
        op.drop_index(name, table_name="orders")
    op.drop_index("ux_orders_order_number", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f("fk_orders_discount_code_id"), type_="foreignkey")
        for name in (
            "unsettled_payment_reference",
            "unsettled_payment_kind",
            "reserved_until",
            "gateway",
            "tags",
            "billing_address",
            "shipping_address",
            "shipping_line",
            "discount_code_id",
            "discount_code",
            "tax_lines",
            "taxes_included",
            "total_shipping",
            "total_discounts",
            "order_number",
        ):
            batch.drop_column(name)

"""Markets price orders in their currency: currency settings, market defaults, presentment amounts.

- `currency_settings` (new): one row per presentment currency, its exchange rate from the
  shop's currency (NUMERIC(18,8), CHECK > 0) and its rounding rule (CHECK one of none,
  nearest_0_05, nearest_whole, up_to_0_99, up_to_whole), with `version` for If-Match.
- markets.currency (the currency its countries are priced in; null: the shop's own) and
  markets.tax_inclusive_pricing: what the market sets for its regions (the seed keeps both per
  region, where they stay); markets.version for If-Match.
- orders.presentment_currency, presentment_exchange_rate and the presentment subtotal,
  discounts, shipping, tax and total; order_line_items.presentment_price and
  presentment_total_discount: an order priced in a market's currency keeps both sets of
  amounts. All nullable: orders priced in the shop's currency have none.

Every change is a plain ADD COLUMN (nullable, or with a constant default) and DROP COLUMN
(SQLite 3.35+), never batch mode: its copy-and-drop of `orders` would cascade the rows that
point at it away (see revision 0020).

Revision ID: 0029_markets_pricing
Revises: 0028_selling_plans_subscriptions
Create Date: 2026-11-29 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shopdb.kit.types

revision: str = "0029_markets_pricing"
down_revision: str | None = "0028_selling_plans_subscriptions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ROUNDING_RULES = ("none", "nearest_0_05", "nearest_whole", "up_to_0_99", "up_to_whole")
ORDER_AMOUNTS = (
    "presentment_subtotal_price",
    "presentment_total_discounts",
    "presentment_total_shipping",
    "presentment_total_tax",
    "presentment_total_price",
)
LINE_AMOUNTS = ("presentment_price", "presentment_total_discount")


def upgrade() -> None:
    op.create_table(
        "currency_settings",
        sa.Column("id", _ID, sa.Identity(always=False), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("exchange_rate", sa.Numeric(precision=18, scale=8), nullable=False),
        sa.Column("rounding_rule", sa.String(length=20), server_default="none", nullable=False),
        sa.Column(
            "created_at",
            shopdb.kit.types.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            shopdb.kit.types.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint("exchange_rate > 0", name=op.f("ck_currency_settings_exchange_rate")),
        sa.CheckConstraint(
            "rounding_rule IN (" + ", ".join(f"'{r}'" for r in ROUNDING_RULES) + ")",
            name=op.f("ck_currency_settings_rounding_rule"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_currency_settings")),
        sa.UniqueConstraint("currency", name=op.f("uq_currency_settings_currency")),
    )
    op.add_column("markets", sa.Column("currency", sa.String(length=3), nullable=True))
    op.add_column(
        "markets",
        sa.Column("tax_inclusive_pricing", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("markets", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.add_column("orders", sa.Column("presentment_currency", sa.String(length=3), nullable=True))
    op.add_column(
        "orders",
        sa.Column("presentment_exchange_rate", sa.Numeric(precision=18, scale=8), nullable=True),
    )
    for name in ORDER_AMOUNTS:
        op.add_column("orders", sa.Column(name, sa.Numeric(precision=14, scale=2), nullable=True))
    for name in LINE_AMOUNTS:
        op.add_column(
            "order_line_items", sa.Column(name, sa.Numeric(precision=14, scale=2), nullable=True)
        )


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35+): see the docstring for why not batch mode.
    for name in reversed(LINE_AMOUNTS):
        op.drop_column("order_line_items", name)
    for name in reversed(ORDER_AMOUNTS):
        op.drop_column("orders", name)
    op.drop_column("orders", "presentment_exchange_rate")
    op.drop_column("orders", "presentment_currency")
    op.drop_column("markets", "version")
    op.drop_column("markets", "tax_inclusive_pricing")
    op.drop_column("markets", "currency")
    op.drop_table("currency_settings")

"""Shipping rates as quoted, and tax rates per country and province (issue 12).

Shipping rates gain Shopify's price-based bounds (`min_subtotal`, `max_subtotal`) and CHECKs
on price and on both ranges. The seed's `min_weight`/`max_weight` keep their DECIMAL(8,2):
they hold grams (up to 999,999.99 g), as the API sends them. On SQLite the CHECKs need a
table rebuild (batch mode); nothing references `shipping_rates`, so the rebuild cascades to
nothing.

`tax_rates` is new: one row per country (province NULL) or per province, a rate in 0..1 as
NUMERIC(6,5), whether shipping is taxed, and how a province combines with the country rate
(`normal`, `harmonized`, `compounded`).

Revision ID: 0014_shipping_tax
Revises: 0013_discounts_gift_cards
Create Date: 2026-11-28 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shopdb.kit.types

revision: str = "0014_shipping_tax"
down_revision: str | None = "0013_discounts_gift_cards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WEIGHT_RANGE = (
    "(min_weight IS NULL OR min_weight >= 0) AND (max_weight IS NULL OR max_weight > 0)"
    " AND (min_weight IS NULL OR max_weight IS NULL OR min_weight < max_weight)"
)
_SUBTOTAL_RANGE = (
    "(min_subtotal IS NULL OR min_subtotal >= 0)"
    " AND (max_subtotal IS NULL OR max_subtotal > 0)"
    " AND (min_subtotal IS NULL OR max_subtotal IS NULL OR min_subtotal < max_subtotal)"
)


def upgrade() -> None:
    with op.batch_alter_table("shipping_rates") as batch:
        batch.add_column(sa.Column("min_subtotal", sa.Numeric(10, 2), nullable=True))
        batch.add_column(sa.Column("max_subtotal", sa.Numeric(10, 2), nullable=True))
        batch.create_check_constraint("ck_shipping_rates_price", "price >= 0")
        batch.create_check_constraint("ck_shipping_rates_weight_range", _WEIGHT_RANGE)
        batch.create_check_constraint("ck_shipping_rates_subtotal_range", _SUBTOTAL_RANGE)

    op.create_table(
        "tax_rates",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("province", sa.String(length=3), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("rate", sa.Numeric(6, 5), nullable=False),
        sa.Column("shipping_taxable", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("tax_type", sa.String(length=20), server_default="normal", nullable=False),
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
        sa.CheckConstraint("rate >= 0 AND rate <= 1", name=op.f("ck_tax_rates_rate")),
        sa.CheckConstraint(
            "tax_type IN ('normal', 'harmonized', 'compounded')", name=op.f("ck_tax_rates_tax_type")
        ),
        sa.CheckConstraint(
            "province IS NOT NULL OR tax_type = 'normal'",
            name=op.f("ck_tax_rates_country_wide_type"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_rates")),
        sa.UniqueConstraint("country", "province", name=op.f("uq_tax_rates_country_province")),
    )
    op.create_index(
        "ux_tax_rates_country_country_wide",
        "tax_rates",
        ["country"],
        unique=True,
        sqlite_where=sa.text("province IS NULL"),
        postgresql_where=sa.text("province IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_tax_rates_country_country_wide", table_name="tax_rates")
    op.drop_table("tax_rates")
    with op.batch_alter_table("shipping_rates") as batch:
        batch.drop_constraint("ck_shipping_rates_subtotal_range", type_="check")
        batch.drop_constraint("ck_shipping_rates_weight_range", type_="check")
        batch.drop_constraint("ck_shipping_rates_price", type_="check")
        batch.drop_column("max_subtotal")
        batch.drop_column("min_subtotal")

"""Catalog: exact weights, Shopify's `unlisted` status, the CSV's product fields (issue 17).

- `product_variants.weight` was the seed's DECIMAL(8,2): an imported 155 g in kg became 0.16.
  It becomes an unconstrained NUMERIC (a value keeps the scale it was written with, at most
  six decimals as the API allows). Existing values are unchanged. A downgrade rounds them
  back to hundredths.
- `products.status` also allows `unlisted`. A downgrade turns unlisted products into drafts
  (hidden, as they were from lists).
- `products.seo_title`, `seo_description`, `product_category` and `gift_card`: the CSV's
  `SEO Title`, `SEO Description`, `Product Category` and `Gift Card` columns (Shopify product
  attributes the seed lacks). Existing products get none and are not gift cards.

On SQLite nothing is rebuilt: rebuilding `products` drops it, and with foreign keys on that
runs an implicit DELETE which cascades to variants, options, images and stock. The two
changes that touch no stored value (a wider CHECK list, a wider NUMERIC declaration; SQLite's
NUMERIC affinity is the same) rewrite the table's declaration in sqlite_schema, SQLite's
documented procedure for such changes (lang_altertable.html, "otheralter"), and bump the
schema version so every connection re-reads it.

Revision ID: 0010_catalog_fidelity
Revises: 0009_inventory_states
Create Date: 2026-11-28 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_catalog_fidelity"
down_revision: str | None = "0009_inventory_states"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('active', 'draft', 'archived')"
NEW_STATUSES = "status IN ('active', 'draft', 'archived', 'unlisted')"
OLD_WEIGHT = "weight NUMERIC(8, 2),"
NEW_WEIGHT = "weight NUMERIC,"
NEW_COLUMNS = ("seo_title", "seo_description", "product_category", "gift_card")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _rewrite_sqlite_declaration(table: str, old: str, new: str) -> None:
    bind = op.get_bind()
    sql = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": table},
    ).scalar_one()
    if old not in sql:
        raise RuntimeError(f"{table}: {old!r} not found in its declaration")
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :name"),
        {"sql": sql.replace(old, new), "name": table},
    )
    bind.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))


def upgrade() -> None:
    if _sqlite():
        _rewrite_sqlite_declaration("product_variants", OLD_WEIGHT, NEW_WEIGHT)
        _rewrite_sqlite_declaration("products", OLD_STATUSES, NEW_STATUSES)
    else:
        op.alter_column(
            "product_variants",
            "weight",
            existing_type=sa.Numeric(precision=8, scale=2),
            type_=postgresql.NUMERIC(),
            existing_nullable=True,
        )
        op.drop_constraint(op.f("ck_products_status"), "products", type_="check")
        op.create_check_constraint(op.f("ck_products_status"), "products", NEW_STATUSES)
    op.add_column("products", sa.Column("seo_title", sa.String(length=255), nullable=True))
    op.add_column("products", sa.Column("seo_description", sa.Text(), nullable=True))
    op.add_column("products", sa.Column("product_category", sa.String(length=512), nullable=True))
    op.add_column(
        "products",
        sa.Column("gift_card", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    for name in reversed(NEW_COLUMNS):
        op.drop_column("products", name)
    op.execute("UPDATE products SET status = 'draft' WHERE status = 'unlisted'")
    op.execute("UPDATE product_variants SET weight = round(weight, 2) WHERE weight IS NOT NULL")
    if _sqlite():
        _rewrite_sqlite_declaration("products", NEW_STATUSES, OLD_STATUSES)
        _rewrite_sqlite_declaration("product_variants", NEW_WEIGHT, OLD_WEIGHT)
    else:
        op.drop_constraint(op.f("ck_products_status"), "products", type_="check")
        op.create_check_constraint(op.f("ck_products_status"), "products", OLD_STATUSES)
        op.alter_column(
            "product_variants",
            "weight",
            existing_type=postgresql.NUMERIC(),
            type_=sa.Numeric(precision=8, scale=2),
            existing_nullable=True,
        )

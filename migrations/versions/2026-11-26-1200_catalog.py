"""Catalog: keyset and trigram search indexes, manual collection order, background jobs.

Revision ID: 0003_catalog
Revises: 4144627769cd
Create Date: 2026-11-26 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shopdb.kit.types

revision: str = "0003_catalog"
down_revision: str | None = "4144627769cd"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", _ID, sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="queued", nullable=False),
        sa.Column("total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("processed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("result", _JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("finished_at", shopdb.kit.types.UTCDateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed')", name=op.f("ck_jobs_status")
        ),
        sa.CheckConstraint("processed >= 0 AND total >= 0", name=op.f("ck_jobs_progress")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_kind_created_at", "jobs", ["kind", "created_at"], unique=False)

    op.create_table(
        "collection_products",
        sa.Column("id", _ID, sa.Identity(always=False), nullable=False),
        sa.Column("collection_id", _ID, nullable=False),
        sa.Column("product_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["smart_collections.id"],
            name=op.f("fk_collection_products_collection_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_collection_products_product_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_products")),
        sa.UniqueConstraint(
            "collection_id",
            "product_id",
            name=op.f("uq_collection_products_collection_id_product_id"),
        ),
    )
    op.create_index(
        "ix_collection_products_collection_id_position",
        "collection_products",
        ["collection_id", "position"],
        unique=False,
    )
    op.create_index(
        "ix_collection_products_product_id", "collection_products", ["product_id"], unique=False
    )

    op.create_index("ix_products_created_at_id", "products", ["created_at", "id"], unique=False)
    op.create_index("ix_products_title_id", "products", ["title", "id"], unique=False)
    op.create_index("ix_products_updated_at_id", "products", ["updated_at", "id"], unique=False)

    # Substring search (`q`) on PostgreSQL: pg_trgm GIN indexes over the exact expressions the
    # product list filters on (see shopdb.models.catalog). SQLite scans with LIKE instead.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_products_search_trgm ON products USING gin "
            "((lower((((title || ' ') || coalesce(vendor, '')) || ' ') || coalesce(tags, '')))"
            " gin_trgm_ops)"
        )
        op.execute(
            "CREATE INDEX ix_product_variants_sku_trgm ON product_variants USING gin "
            "(lower(sku) gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_product_variants_sku_trgm")
        op.execute("DROP INDEX IF EXISTS ix_products_search_trgm")
        # pg_trgm stays: another schema object may use it, and it costs nothing idle.
    op.drop_index("ix_products_updated_at_id", table_name="products")
    op.drop_index("ix_products_title_id", table_name="products")
    op.drop_index("ix_products_created_at_id", table_name="products")
    op.drop_index("ix_collection_products_product_id", table_name="collection_products")
    op.drop_index("ix_collection_products_collection_id_position", table_name="collection_products")
    op.drop_table("collection_products")
    op.drop_index("ix_jobs_kind_created_at", table_name="jobs")
    op.drop_table("jobs")

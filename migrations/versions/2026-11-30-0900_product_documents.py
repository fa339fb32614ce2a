"""Stored product documents: each product's finished JSON detail, kept between reads.

- product_documents: one row per product read or changed since, holding its document, the
  stamp it was built at and the product version (shopdb.models.catalog.ProductDocument,
  shopdb.catalog.read_model.stored). Rows appear lazily: nothing is built here, a catalog of
  any size migrates in an instant, and each product's first read builds and stores its
  document.

Revision ID: 0033_product_documents
Revises: 0032_webhook_claims
Create Date: 2026-11-30 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shopdb.kit.types

revision: str = "0033_product_documents"
down_revision: str | None = "0032_webhook_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_documents",
        sa.Column("product_id", shopdb.kit.types.BigIntId, autoincrement=False, nullable=False),
        sa.Column("stamp", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("built_stamp", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("document", sa.Text(), nullable=True),
        sa.CheckConstraint("built_stamp <= stamp", name=op.f("ck_product_documents_built_stamp")),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_documents")),
    )


def downgrade() -> None:
    op.drop_table("product_documents")

"""Product images: several variants per image, downloads from a `src` URL (issue 17).

- `product_image_variants (image_id, variant_id)`: Shopify's `variant_ids`, an image belongs to
  any number of its product's variants. Both foreign keys cascade; the pair is unique; variant
  lookups have their own index. Every `product_images.variant_id` becomes a row, then the
  column goes (the seed has no images table, so nothing outside shopdb reads it; the API's
  `variantId` is now the first of `variantIds`).
- `product_images.status` (`processing`, `ready`, `failed`), `error_code` and `error_message`:
  an image created from a URL is `processing` until the `images/fetch` job has downloaded it,
  then `ready`, or `failed` with a reason. Existing images are `ready`.

On SQLite, changing `product_images` rebuilds it, and dropping the old table (foreign keys are
on) deletes whatever references it by cascade: the links are therefore copied aside into a
plain table first and the join table is created and filled only after the rebuild (the
downgrade likewise drops the join table before rebuilding).

Revision ID: 0011_image_variants
Revises: 0010_catalog_fidelity
Create Date: 2026-11-28 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_image_variants"
down_revision: str | None = "0010_catalog_fidelity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "status IN ('processing', 'ready', 'failed')"
# The links copied aside while product_images is rebuilt (see above).
STAGING = "_product_image_variant_moves"
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.execute(
        "CREATE TABLE _product_image_variant_moves AS "
        "SELECT id AS image_id, variant_id FROM product_images WHERE variant_id IS NOT NULL"
    )
    with op.batch_alter_table("product_images") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=16), server_default="ready", nullable=False)
        )
        batch.add_column(sa.Column("error_code", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("error_message", sa.String(length=512), nullable=True))
        batch.create_check_constraint(op.f("ck_product_images_status"), STATUSES)
        batch.drop_constraint(op.f("fk_product_images_variant_id"), type_="foreignkey")
        batch.drop_column("variant_id")
    op.create_table(
        "product_image_variants",
        sa.Column("id", _ID, sa.Identity(always=False), nullable=False),
        sa.Column("image_id", _ID, nullable=False),
        sa.Column("variant_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["product_images.id"],
            name=op.f("fk_product_image_variants_image_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["product_variants.id"],
            name=op.f("fk_product_image_variants_variant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_image_variants")),
        sa.UniqueConstraint(
            "image_id", "variant_id", name=op.f("uq_product_image_variants_image_id_variant_id")
        ),
    )
    op.create_index(
        "ix_product_image_variants_variant_id",
        "product_image_variants",
        ["variant_id"],
        unique=False,
    )
    op.execute(
        "INSERT INTO product_image_variants (image_id, variant_id) "
        "SELECT image_id, variant_id FROM _product_image_variant_moves ORDER BY image_id"
    )
    op.drop_table(STAGING)


def downgrade() -> None:
    # An image keeps one variant: the first by id, as the API's `variantId` showed it.
    op.execute(
        "CREATE TABLE _product_image_variant_moves AS SELECT image_id, MIN(variant_id) AS variant_id "
        "FROM product_image_variants GROUP BY image_id"
    )
    op.drop_index("ix_product_image_variants_variant_id", table_name="product_image_variants")
    op.drop_table("product_image_variants")
    with op.batch_alter_table("product_images") as batch:
        batch.drop_constraint(op.f("ck_product_images_status"), type_="check")
        batch.drop_column("error_message")
        batch.drop_column("error_code")
        batch.drop_column("status")
        batch.add_column(sa.Column("variant_id", _ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_product_images_variant_id"),
            "product_variants",
            ["variant_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.execute(
        "UPDATE product_images SET variant_id = (SELECT m.variant_id "
        "FROM _product_image_variant_moves m "
        "WHERE m.image_id = product_images.id)"
    )
    op.drop_table(STAGING)

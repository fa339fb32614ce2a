"""Trigram search indexes: a small GIN pending list (256 kB instead of 4 MB).

Every inventory change rewrites its variant row outside HOT (the seed indexes
`inventory_quantity`), so each one adds the variant's SKU trigrams to the pending list of
`ix_product_variants_sku_trgm`. A search scans that list in full, and once it passes a few
hundred pages the planner gives up the index for a sequential scan (2 ms became 20-40 ms
per search in the benchmark); the insert that finally overflows it merges 4 MB at once.
At 256 kB the list is merged every few dozen changes, at no measurable cost per change.

Revision ID: 0004_search_pending_lists
Revises: 0003_catalog
Create Date: 2026-11-26 17:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_search_pending_lists"
down_revision: str | None = "0003_catalog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_INDEXES = ("ix_products_search_trgm", "ix_product_variants_sku_trgm")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for index in SEARCH_INDEXES:
            op.execute(f"ALTER INDEX {index} SET (gin_pending_list_limit = 256)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for index in SEARCH_INDEXES:
            op.execute(f"ALTER INDEX {index} RESET (gin_pending_list_limit)")

"""Product documents kept uncompressed in their rows (PostgreSQL).

A document is ~2.2 kB for a product with three variants: past ~2 kB PostgreSQL compressed it
(TOAST, pglz), and every read decompressed it again, 51 times for a list page of 50 (~0.8 us
each, a tenth of the page's PostgreSQL time without the cache). With toast_tuple_target at its
maximum, a row up to 8,160 bytes is stored as it is; larger documents are compressed as before.
The table takes about twice the space. Documents already stored keep their form until their
product changes and they are stored again (no rewrite here: a large catalog migrates at once).

Revision ID: 0035_documents_uncompressed
Revises: 0034_product_tags_sort_keys
Create Date: 2026-11-30 11:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0035_documents_uncompressed"
down_revision: str | None = "0034_product_tags_sort_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE product_documents SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE product_documents RESET (toast_tuple_target)")

"""Every list other than products at scale (issue 18): the indexes their filters and sorts walk.

Lists page by keyset now (kit.pagination.read_page): a page is `(key, id) > (:key, :id)` in
`ORDER BY key, id`, which is an index range scan only where an index on (key, id) exists, and,
for a filtered list, one on (filter, key, id).

- customers: (key, id) of live customers for each sortBy (createdAt, updatedAt, firstName,
  lastName, state), and (state, key, id) for the `state` filter with each of them; names are
  nullable and the list reads the keyed rows and the null ones as two ranges of the same index.
  `q` (every word in the first or last name, any case) is answered on PostgreSQL by a pg_trgm
  GIN index over models.customers.CUSTOMER_NAME_SEARCH_SQL (the extension exists since 0001).
- inventory_levels: (location_id, inventory_item_id), for a location's levels by item.
- metafields: (namespace, id), for the namespace filter by id.

Revision ID: 0017_lists_at_scale
Revises: 0016_listing_at_scale
Create Date: 2026-11-28 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_lists_at_scale"
down_revision: str | None = "0016_listing_at_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")
SORT_KEYS = ("created_at", "updated_at", "first_name", "last_name")
# A copy of models.customers.CUSTOMER_NAME_SEARCH_SQL as of this revision.
NAME_SEARCH_SQL = "lower((coalesce(first_name, '') || ' ') || coalesce(last_name, ''))"
OTHER_INDEXES = {
    "ix_inventory_levels_location_id_inventory_item_id": (
        "inventory_levels",
        ["location_id", "inventory_item_id"],
    ),
    "ix_metafields_namespace_id": ("metafields", ["namespace", "id"]),
}


def _customer_indexes() -> dict[str, list[str]]:
    plain = {f"ix_customers_{key}_id": [key, "id"] for key in (*SORT_KEYS, "state")}
    by_state = {f"ix_customers_state_{key}_id": ["state", key, "id"] for key in SORT_KEYS}
    return plain | by_state


def upgrade() -> None:
    for name, columns in _customer_indexes().items():
        op.create_index(name, "customers", columns, postgresql_where=LIVE, sqlite_where=LIVE)
    for name, (table, columns) in OTHER_INDEXES.items():
        op.create_index(name, table, columns)
    if op.get_bind().dialect.name == "postgresql":
        # The pending list every search scans stays short, as for the product search indexes.
        op.execute(
            "CREATE INDEX ix_customers_name_search ON customers"
            f" USING gin (({NAME_SEARCH_SQL}) gin_trgm_ops) WITH (gin_pending_list_limit = 256)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_customers_name_search")
    for name, (table, _columns) in OTHER_INDEXES.items():
        op.drop_index(name, table_name=table)
    for name in _customer_indexes():
        op.drop_index(name, table_name="customers")

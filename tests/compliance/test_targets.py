"""The supported entity types against the schema's foreign keys: whatever a hard delete or an
archive removes (the rows and everything their ON DELETE CASCADE keys take along) is referred
to only by CASCADE or SET NULL keys from outside, so the deletion cannot fail on either
database. A foreign key added later that would make one fail shows here first."""

from __future__ import annotations

from sqlalchemy import Table

from shopdb.compliance.targets import (
    ARCHIVE,
    DELETION_POLICIES,
    HARD_DELETE,
    SOFT_DELETE,
    TARGETS,
    references_to,
)
from shopdb.kit.types import utcnow
from shopdb.models import Base


def cascade_closure(table_name: str) -> set[str]:
    """The table and every table whose rows its deletion removes (ON DELETE CASCADE)."""
    found = {table_name}
    frontier = [table_name]
    while frontier:
        current = frontier.pop()
        for referring, _column, ondelete in references_to(current):
            if ondelete == "CASCADE" and referring.name not in found:
                found.add(referring.name)
                frontier.append(referring.name)
    return found


def blocking_keys(table_name: str) -> list[str]:
    """Keys into the cascade's tables, from tables outside it, that neither cascade nor set
    NULL (a key inside the cascade, such as a parent transaction's, goes with its rows)."""
    closure = cascade_closure(table_name)
    problems = []
    for table in Base.metadata.sorted_tables:
        if table.name in closure:
            continue
        for key in table.foreign_keys:
            ondelete = (key.ondelete or "NO ACTION").upper()
            if key.column.table.name in closure and ondelete not in ("CASCADE", "SET NULL"):
                problems.append(f"{table.name}.{key.parent.name} -> {key.column.table.name}")
    return problems


class TestForeignKeys:
    def test_no_removal_can_be_refused_by_a_foreign_key(self) -> None:
        for entity_type, target in TARGETS.items():
            if HARD_DELETE in target.policies or ARCHIVE in target.policies:
                assert blocking_keys(target.table.name) == [], entity_type

    def test_orders_take_their_lines_transactions_and_returns_along(self) -> None:
        closure = cascade_closure("orders")
        assert {
            "order_line_items",
            "order_transactions",
            "order_refunds",
            "fulfillment_orders",
            "payments",
            "returns",
        } <= closure
        assert "checkouts" not in closure  # a completed checkout keeps its row (SET NULL)

    def test_customers_referred_to_by_a_set_null_key_are_kept(self) -> None:
        kept_by = {
            t.name for t, _c, ondelete in references_to("customers") if ondelete != "CASCADE"
        }
        assert {"orders", "checkouts", "gift_cards"} <= kept_by
        now = utcnow()
        due = str(TARGETS["customers"].due(HARD_DELETE, now, now))
        for table in kept_by:
            assert f"FROM {table}" in due


class TestPolicies:
    def test_soft_delete_only_where_the_table_has_deleted_at(self) -> None:
        for entity_type, target in TARGETS.items():
            assert set(target.policies) <= set(DELETION_POLICIES)
            assert (SOFT_DELETE in target.policies) == target.soft_deletes, entity_type

    def test_every_type_has_a_created_at_and_an_id(self) -> None:
        for target in TARGETS.values():
            table: Table = target.table
            assert {"id", "created_at"} <= set(table.c.keys())

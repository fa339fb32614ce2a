"""What a data retention policy may clean up: each supported entity type, which of its rows are
due, and what each deletion policy does to them (the rule stated once, here).

A row is due when it was created before the cutoff (now minus the policy's period) and its
type's own condition holds:

- `events`: every event (the audit log); hard_delete or archive. Webhook deliveries keep
  their rows (`webhook_deliveries.event_id` is SET NULL).
- `inventory_adjustments`: every adjustment (the stock history; levels keep their numbers);
  hard_delete or archive.
- `checkouts`: checkouts never completed (abandoned or simply left), and not being completed
  at this moment; hard_delete or archive. A completed checkout is its order's history and
  stays.
- `orders`: orders closed or cancelled (final: nothing is committed or owed any more), never
  a reservation awaiting its payment; soft_delete hides them from every list, hard_delete
  and archive remove them with their lines, transactions, refunds, fulfillments, payments
  and returns (ON DELETE CASCADE); a completed checkout loses its link (SET NULL).
- `customers`: customers nothing else refers to: no order (live or deleted), checkout, gift
  card, subscription... (every foreign key to customers that is not their own addresses,
  tags and group memberships, read from the schema); soft_delete, hard_delete (the
  addresses, tags and memberships go with them) or archive.

On every type, a row some other table refers to with ON DELETE RESTRICT (or NO ACTION) is
never due: deleting it would fail on both databases. A test checks that the rows a cascade
removes are referred to only by CASCADE or SET NULL keys, so a new foreign key that would
make a deletion fail is noticed when it is added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, exists, not_, or_, select
from sqlalchemy.orm import DeclarativeBase

from shopdb.kit import journal
from shopdb.models import (
    Base,
    Checkout,
    Customer,
    CustomerAddress,
    Event,
    InventoryAdjustment,
    Order,
    OrderLineItem,
    OrderTransaction,
)

HARD_DELETE = "hard_delete"
SOFT_DELETE = "soft_delete"
ARCHIVE = "archive"
DELETION_POLICIES = (HARD_DELETE, SOFT_DELETE, ARCHIVE)

Condition = Callable[[datetime, datetime], ColumnElement[bool]]


@dataclass(frozen=True)
class Target:
    entity_type: str
    model: type[DeclarativeBase]
    policies: tuple[str, ...]
    rule: str
    # (cutoff, now) -> the type's own condition, beside `created_at < cutoff`.
    condition: Condition | None = None
    # Rows another table refers to by a key that only sets it NULL are kept too (customers:
    # their orders and checkouts keep naming them).
    keep_referenced: bool = False
    # Archived beside each row: (model, foreign key column) of its children, by id.
    children: tuple[tuple[type[DeclarativeBase], str], ...] = field(default=())
    # The change journal's kind (shopdb.kit.journal) whose cached documents show these rows.
    journal_kind: str | None = None

    @property
    def table(self) -> Table:
        table = self.model.__table__
        assert isinstance(table, Table)
        return table

    @property
    def soft_deletes(self) -> bool:
        return "deleted_at" in self.table.c

    def due(self, policy: str, cutoff: datetime, now: datetime) -> ColumnElement[bool]:
        """The rows `policy` applies to at `now`, for a period ending at `cutoff`."""
        table = self.table
        conditions: list[ColumnElement[bool]] = [table.c.created_at < cutoff]
        if self.condition is not None:
            conditions.append(self.condition(cutoff, now))
        if policy == SOFT_DELETE:
            conditions.append(table.c.deleted_at.is_(None))
        for referring, column, ondelete in references_to(table.name):
            blocking = ondelete not in ("CASCADE", "SET NULL")
            if blocking or (self.keep_referenced and ondelete == "SET NULL"):
                conditions.append(
                    not_(exists(select(1).select_from(referring).where(column == table.c.id)))
                )
        return and_(*conditions)


def references_to(table_name: str) -> list[tuple[Table, Any, str]]:
    """Every foreign key to `table_name`'s id from another table: (table, column, ON DELETE
    in upper case, or NO ACTION)."""
    found = []
    for table in Base.metadata.sorted_tables:
        for key in table.foreign_keys:
            if key.column.table.name == table_name and table.name != table_name:
                found.append((table, key.parent, (key.ondelete or "NO ACTION").upper()))
    return found


def _checkout_left(_cutoff: datetime, now: datetime) -> ColumnElement[bool]:
    return and_(
        Checkout.completed_at.is_(None),
        or_(Checkout.completing_until.is_(None), Checkout.completing_until < now),
    )


def _order_final(_cutoff: datetime, _now: datetime) -> ColumnElement[bool]:
    return and_(
        or_(Order.closed_at.is_not(None), Order.cancelled_at.is_not(None)),
        Order.reserved_until.is_(None),
    )


TARGETS: dict[str, Target] = {
    target.entity_type: target
    for target in (
        Target(
            "events",
            Event,
            (HARD_DELETE, ARCHIVE),
            "every event created before the cutoff",
        ),
        Target(
            "inventory_adjustments",
            InventoryAdjustment,
            (HARD_DELETE, ARCHIVE),
            "every adjustment created before the cutoff",
        ),
        Target(
            "checkouts",
            Checkout,
            (HARD_DELETE, ARCHIVE),
            "checkouts created before the cutoff and never completed",
            condition=_checkout_left,
        ),
        Target(
            "orders",
            Order,
            (SOFT_DELETE, HARD_DELETE, ARCHIVE),
            "closed or cancelled orders created before the cutoff; hard_delete and archive "
            "remove their lines, transactions, refunds, fulfillments and returns too",
            condition=_order_final,
            children=((OrderLineItem, "order_id"), (OrderTransaction, "order_id")),
            journal_kind=journal.ORDER,
        ),
        Target(
            "customers",
            Customer,
            (SOFT_DELETE, HARD_DELETE, ARCHIVE),
            "customers created before the cutoff that no order, checkout, gift card or other "
            "record refers to; hard_delete and archive remove their addresses too",
            keep_referenced=True,
            children=((CustomerAddress, "customer_id"),),
        ),
    )
}
ENTITY_TYPES = tuple(TARGETS)

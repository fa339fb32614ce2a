"""The stock moves of an order's life, for the orders domain to call in its own transaction.

Placing an order commits stock (available -> committed); cancelling an unfulfilled line
releases it (committed -> available); fulfilling it ships it (committed leaves, and with it the
units leave on hand). As Shopify: https://shopify.dev/docs/apps/build/orders-fulfillment/
inventory-management-apps (placing an order: available -q, committed +q; fulfilling:
committed -q).

Each is `service.change_levels`: one guarded statement per level, all-or-nothing, levels in
the deadlock-free order, never a commit. Committing honours the variant's inventory policy
inside the guarded UPDATE itself: a `deny` variant of a tracked item never goes below zero
available (409 INSUFFICIENT_INVENTORY, and nothing of the order's stock moves), a `continue`
variant is committed beyond its stock and its available goes negative, as Shopify shows it, and
an untracked item is never limited. Committed units can never go below zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import ValidationFailed
from shopdb.inventory.repository import LevelRow
from shopdb.inventory.service import LevelChange, change_levels


@dataclass(frozen=True)
class StockLine:
    """`quantity` units of an item at a location; `field` is what a refusal names (an order
    line's request field, for instance `lineItems[2].quantity`)."""

    inventory_item_id: int
    location_id: int
    quantity: int
    field: str = "quantity"


def _changes(
    lines: Iterable[StockLine],
    available: int,
    committed: int,
    reason: str,
    note: str | None,
) -> list[LevelChange]:
    changes: list[LevelChange] = []
    for line in lines:
        if line.quantity < 1:
            raise ValidationFailed.on(line.field, "must be at least 1")
        changes.append(
            LevelChange(
                line.inventory_item_id,
                line.location_id,
                available=available * line.quantity,
                committed=committed * line.quantity,
                reason=reason,
                note=note,
                field=line.field,
            )
        )
    return changes


# What each move does to a level, per unit: (available, committed). The functions below and
# a StockMove (several kinds in one change) use the same table.
COMMIT = (-1, +1)  # commit_stock: an order is placed
RELEASE = (+1, -1)  # release_committed: an unfulfilled line is cancelled
FULFIL = (0, -1)  # fulfill_committed: a line ships (on hand drops with it)
UNFULFIL = (0, +1)  # unfulfill_committed: a fulfillment is cancelled
RESTOCK_RETURNED = (+1, 0)  # restock_returned: shipped units come back on sale


async def commit_stock(
    session: AsyncSession,
    lines: Iterable[StockLine],
    *,
    reason: str = "other",
    note: str | None = None,
    actor: str | None = None,
) -> list[LevelRow]:
    """An order is placed: each line's units move from available to committed.

    `deny` variants (tracked) are refused below zero available; `continue` variants and
    untracked items are not. Results are in the order of `lines`.
    """
    return await change_levels(session, _changes(lines, *COMMIT, reason, note), actor=actor)


async def release_committed(
    session: AsyncSession,
    lines: Iterable[StockLine],
    *,
    reason: str = "restock",
    note: str | None = None,
    actor: str | None = None,
) -> list[LevelRow]:
    """An unfulfilled line is cancelled: its units move back from committed to available
    (Shopify's restock type `cancel`). Releasing more than is committed is refused."""
    return await change_levels(session, _changes(lines, *RELEASE, reason, note), actor=actor)


async def fulfill_committed(
    session: AsyncSession,
    lines: Iterable[StockLine],
    *,
    reason: str = "other",
    note: str | None = None,
    actor: str | None = None,
) -> list[LevelRow]:
    """A line is fulfilled: its committed units leave the location (on hand drops by as
    many; available does not move). Fulfilling more than is committed is refused."""
    return await change_levels(session, _changes(lines, *FULFIL, reason, note), actor=actor)


async def unfulfill_committed(
    session: AsyncSession,
    lines: Iterable[StockLine],
    *,
    reason: str = "other",
    note: str | None = None,
    actor: str | None = None,
) -> list[LevelRow]:
    """A fulfillment is cancelled: its units are back at the location, committed to the
    order again (the inverse of fulfill_committed: on hand and committed rise by as many;
    available does not move)."""
    return await change_levels(session, _changes(lines, *UNFULFIL, reason, note), actor=actor)


async def restock_returned(
    session: AsyncSession,
    lines: Iterable[StockLine],
    *,
    reason: str = "restock",
    note: str | None = None,
    actor: str | None = None,
) -> list[LevelRow]:
    """Fulfilled units came back and are put back on sale (Shopify's restock type `return`):
    available +q, and on hand with it (they had left it when fulfilled); committed does not
    move, nothing of theirs is committed any more. The level must exist (the item stocked at
    that location)."""
    changes = _changes(lines, *RESTOCK_RETURNED, reason, note)
    return await change_levels(session, changes, actor=actor)


@dataclass(frozen=True)
class StockMove:
    """`line`'s units moved as one of the functions above moves them: `available` and
    `committed` change by these amounts per unit (`commit_stock` is -1, +1)."""

    line: StockLine
    available: int
    committed: int
    reason: str = "restock"
    note: str | None = None


async def move_stock(
    session: AsyncSession, moves: Iterable[StockMove], *, actor: str | None = None
) -> list[LevelRow]:
    """Moves of several kinds in one all-or-nothing change: their levels are locked in the one
    deadlock-free order, where a call per kind could lock two levels in opposite orders in two
    concurrent transactions. Results are in the order of `moves`."""
    changes = [
        change
        for move in moves
        for change in _changes([move.line], move.available, move.committed, move.reason, move.note)
    ]
    return await change_levels(session, changes, actor=actor)

"""Every SQL statement of fulfillments, fulfillment orders and fulfillment services."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shopdb.kit import prepared
from shopdb.kit.models import attach_loaded
from shopdb.kit.sql import in_constants, one_of
from shopdb.kit.types import utcnow
from shopdb.models import (
    FulfillmentEnhanced,
    FulfillmentOrder,
    FulfillmentOrderLineItem,
    FulfillmentService,
    Location,
    Order,
    OrderFulfillment,
    OrderLineItem,
    OrderRefundLineItem,
    Return,
    ReturnLineItem,
)
from shopdb.models.fulfillments import MANUAL_SERVICE_HANDLE

# A fulfillment order still handling its lines: a new fulfillment of them moves it on.
ACTIVE_STATUSES = ("open", "in_progress")


@dataclass(frozen=True)
class NewFulfillmentOrder:
    """One fulfillment order to open: its location (None: untracked lines only) and
    {order line id: units}."""

    location_id: int | None
    lines: dict[int, int]


def _manual_service_id() -> Any:
    return (
        select(FulfillmentService.id)
        .where(FulfillmentService.handle == MANUAL_SERVICE_HANDLE)
        .scalar_subquery()
    )


def _service_of_location() -> Any:
    """The service of the row's location (the first by id, if several name it), else
    `manual`: a SQL expression of the row's `service_location_id` parameter (the column's
    own parameter name is reserved for its VALUES)."""
    located = (
        select(func.min(FulfillmentService.id))
        .where(FulfillmentService.location_id == bindparam("service_location_id"))
        .scalar_subquery()
    )
    return func.coalesce(located, _manual_service_id())


# Built once and run with a list of rows (one statement on both databases, insertmanyvalues):
# a multi-row .values() would be compiled again for every order.
_FULFILLMENT_ORDERS = cast(Table, FulfillmentOrder.__table__)
_OPEN_FULFILLMENT_ORDERS = (
    insert(_FULFILLMENT_ORDERS)
    .values(fulfillment_service_id=_service_of_location())
    .returning(_FULFILLMENT_ORDERS.c.id, _FULFILLMENT_ORDERS.c.assigned_location_id)
)
_OPEN_FULFILLMENT_ORDER_LINES = insert(cast(Table, FulfillmentOrderLineItem.__table__))

# PostgreSQL's: the fulfillment orders and all their line items in one statement (it runs in
# every placement). Each line joins its group's row by location: at most one group has none.
_OPEN_AT_ONCE = text(
    """
    WITH fo AS (
        INSERT INTO fulfillment_orders (order_id, assigned_location_id, fulfillment_service_id,
            status, request_status, destination, created_at, updated_at)
        SELECT :order_id, g.location_id,
            COALESCE(
                (SELECT min(s.id) FROM fulfillment_services AS s
                 WHERE s.location_id = g.location_id),
                (SELECT s.id FROM fulfillment_services AS s WHERE s.handle = :manual)
            ),
            'open', 'unsubmitted', CAST(:destination AS jsonb), :now, :now
        FROM unnest(CAST(:locations AS bigint[])) AS g(location_id)
        RETURNING id, assigned_location_id
    )
    INSERT INTO fulfillment_order_line_items (fulfillment_order_id, line_item_id, quantity)
    SELECT fo.id, l.line_item_id, l.quantity
    FROM unnest(
        CAST(:line_locations AS bigint[]),
        CAST(:line_ids AS bigint[]),
        CAST(:quantities AS integer[])
    ) AS l(location_id, line_item_id, quantity)
    JOIN fo ON fo.assigned_location_id IS NOT DISTINCT FROM l.location_id
    """
)


# The statements every fulfillment runs, built once (kit.prepared runs them in the
# request's transaction; rows read whole come back as the session's objects: attach_loaded).
_LINES = cast(Table, OrderLineItem.__table__)
_ADD_FULFILLED = (
    update(_LINES)
    .where(
        _LINES.c.id == bindparam("line_id"),
        _LINES.c.fulfilled_quantity + _LINES.c.removed_quantity + bindparam("units")
        <= _LINES.c.quantity,
    )
    .values(
        fulfilled_quantity=_LINES.c.fulfilled_quantity + bindparam("units"),
        updated_at=bindparam("changed_at"),
    )
    .returning(*_LINES.c)
)
_REMOVE_FULFILLED = (
    update(_LINES)
    .where(
        _LINES.c.id == bindparam("line_id"),
        _LINES.c.fulfilled_quantity >= bindparam("units"),
    )
    .values(
        fulfilled_quantity=_LINES.c.fulfilled_quantity - bindparam("units"),
        updated_at=bindparam("changed_at"),
    )
    .returning(*_LINES.c)
)
_LOCATION_EXISTS = select(Location.id).where(Location.id == bindparam("location_id"))
_FULFILLMENT_COUNT = (
    select(func.count())
    .select_from(FulfillmentEnhanced)
    .where(FulfillmentEnhanced.order_id == bindparam("order_id"))
)


@functools.cache
def _covered_lines(postgresql: bool) -> Any:
    return (
        select(FulfillmentOrderLineItem.line_item_id)
        .join(
            FulfillmentOrder, FulfillmentOrder.id == FulfillmentOrderLineItem.fulfillment_order_id
        )
        .where(
            one_of(FulfillmentOrderLineItem.line_item_id, "line_ids", postgresql=postgresql),
            in_constants(FulfillmentOrder.status, ACTIVE_STATUSES),
        )
    )


@functools.cache
def _fulfillment_orders_handling(postgresql: bool) -> Any:
    fo = _FULFILLMENT_ORDERS.c
    movable = in_constants(fo.status, ACTIVE_STATUSES) | (
        (fo.status == "closed") & fo.fulfilled_at.is_not(None)
    )
    handling = select(FulfillmentOrderLineItem.fulfillment_order_id).where(
        one_of(FulfillmentOrderLineItem.line_item_id, "line_ids", postgresql=postgresql)
    )
    if not postgresql:
        return select(_FULFILLMENT_ORDERS).where(fo.id.in_(handling), movable).order_by(fo.id)
    # PostgreSQL: each fulfillment order read by its key, for the few the lines name. As an
    # IN (subquery) the planner, without statistics, read every active fulfillment order
    # through the status index and hashed them (8 ms a fulfilment on the benchmark's
    # orders); a LATERAL with a LIMIT is not flattened into such a join.
    named = handling.distinct().subquery("named")
    one = (
        select(_FULFILLMENT_ORDERS)
        .where(fo.id == named.c.fulfillment_order_id, movable)
        .limit(1)
        .lateral("fo")
    )
    return select(one).select_from(named).join(one, true()).order_by(one.c.id)


class FulfillmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgresql(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    # --- orders and their lines ----------------------------------------------------------

    async def placed_order_exists(self, order_id: int) -> bool:
        found = await self.session.scalar(
            select(Order.id).where(
                Order.id == order_id, Order.reserved_until.is_(None), Order.deleted_at.is_(None)
            )
        )
        return found is not None

    async def add_fulfilled(self, line_id: int, quantity: int) -> OrderLineItem | None:
        """Guarded: None (nothing written) if the line has fewer than `quantity` units left
        to fulfil. The caller's loaded line is refreshed from the row."""
        return await self._changed_line(_ADD_FULFILLED, line_id, quantity)

    async def remove_fulfilled(self, line_id: int, quantity: int) -> OrderLineItem | None:
        """Guarded: None if fewer than `quantity` units of the line are fulfilled."""
        return await self._changed_line(_REMOVE_FULFILLED, line_id, quantity)

    async def _changed_line(
        self, statement: Any, line_id: int, quantity: int
    ) -> OrderLineItem | None:
        # asyncpg's prepared statement in the transaction; the session's line refreshed.
        rows = await prepared.fetch_in_transaction(
            self.session, statement, {"line_id": line_id, "units": quantity, "changed_at": utcnow()}
        )
        return attach_loaded(self.session, OrderLineItem, rows[0]) if rows else None

    async def shipped_units_taken(self, line_ids: Collection[int]) -> dict[int, int]:
        """Shipped units of each line that something took back since: refunded after they
        were fulfilled (a refund line's units not removed unshipped, whatever its restock
        type), or taken by a return no refund covers (all of an open one, what one closed
        without a refund received; a closed return's refund is counted as a refund). Read
        under the order's lock: neither a refund nor a return of it commits meanwhile."""
        if not line_ids:
            return {}
        ids = sorted(line_ids)
        refunded = await self.session.execute(
            select(
                OrderRefundLineItem.line_item_id,
                func.sum(OrderRefundLineItem.quantity - OrderRefundLineItem.removed_quantity),
            )
            .where(OrderRefundLineItem.line_item_id.in_(ids))
            .group_by(OrderRefundLineItem.line_item_id)
        )
        taken = {int(row[0]): int(row[1] or 0) for row in refunded}
        by_return = case(
            (Return.status == "open", ReturnLineItem.quantity),
            else_=ReturnLineItem.received_quantity,
        )
        returned = await self.session.execute(
            select(ReturnLineItem.line_item_id, func.sum(by_return))
            .join(Return, Return.id == ReturnLineItem.return_id)
            .where(
                ReturnLineItem.line_item_id.in_(ids),
                or_(
                    Return.status == "open",
                    and_(Return.status == "closed", Return.refund_id.is_(None)),
                ),
            )
            .group_by(ReturnLineItem.line_item_id)
        )
        for line_id, units in returned:
            taken[int(line_id)] = taken.get(int(line_id), 0) + int(units or 0)
        return taken

    async def location_exists(self, location_id: int) -> bool:
        rows = await prepared.fetch_in_transaction(
            self.session, _LOCATION_EXISTS, {"location_id": location_id}
        )
        return bool(rows)

    # --- fulfillments ----------------------------------------------------------------------

    async def fulfillment_count(self, order_id: int) -> int:
        rows = await prepared.fetch_in_transaction(
            self.session, _FULFILLMENT_COUNT, {"order_id": order_id}
        )
        return int(rows[0][0] or 0)

    async def add_fulfillment(
        self, fulfillment: FulfillmentEnhanced, mirror: OrderFulfillment
    ) -> FulfillmentEnhanced:
        """The fulfillment (the source of truth, with its line items) and its
        order_fulfillments mirror, which names it, in the caller's transaction."""
        self.session.add(fulfillment)
        await self.session.flush()
        mirror.fulfillment_id = fulfillment.id
        self.session.add(mirror)
        await self.session.flush()
        return fulfillment

    async def mirror_of(self, fulfillment_id: int) -> OrderFulfillment | None:
        return (
            await self.session.scalars(
                select(OrderFulfillment).where(OrderFulfillment.fulfillment_id == fulfillment_id)
            )
        ).one_or_none()

    async def fulfillments_of(self, order_id: int) -> list[FulfillmentEnhanced]:
        rows = await self.session.scalars(
            select(FulfillmentEnhanced)
            .where(FulfillmentEnhanced.order_id == order_id)
            .options(selectinload(FulfillmentEnhanced.line_items))
            .order_by(FulfillmentEnhanced.id)
        )
        return list(rows)

    async def fulfillment(self, order_id: int, fulfillment_id: int) -> FulfillmentEnhanced | None:
        return (
            await self.session.scalars(
                select(FulfillmentEnhanced)
                .where(
                    FulfillmentEnhanced.id == fulfillment_id,
                    FulfillmentEnhanced.order_id == order_id,
                )
                .options(selectinload(FulfillmentEnhanced.line_items))
                .execution_options(populate_existing=True)
            )
        ).one_or_none()

    # --- fulfillment orders ----------------------------------------------------------------

    async def open_fulfillment_orders(
        self,
        order_id: int,
        groups: Sequence[NewFulfillmentOrder],
        destination: dict[str, Any] | None,
        now: datetime,
    ) -> None:
        """One statement on PostgreSQL, two elsewhere, whatever the number of groups: a
        multi-row INSERT of the fulfillment orders (each naming its location's service or
        `manual`), one of all their line items."""
        if not groups:
            return
        if self._postgresql:
            placed = [
                (g.location_id, line, units) for g in groups for line, units in g.lines.items()
            ]
            values = {
                "order_id": order_id,
                "manual": MANUAL_SERVICE_HANDLE,
                "destination": None if destination is None else orjson.dumps(destination).decode(),
                "now": now,
                "locations": [group.location_id for group in groups],
                "line_locations": [location for location, _, _ in placed],
                "line_ids": [line for _, line, _ in placed],
                "quantities": [units for _, _, units in placed],
            }
            await prepared.fetch_in_transaction(self.session, _OPEN_AT_ONCE, values)
            return
        rows = [
            {
                "order_id": order_id,
                "assigned_location_id": group.location_id,
                "service_location_id": group.location_id,
                "status": "open",
                "request_status": "unsubmitted",
                "destination": destination,
                "created_at": now,
                "updated_at": now,
            }
            for group in groups
        ]
        written = await self.session.execute(_OPEN_FULFILLMENT_ORDERS, rows)
        # Each group has its own location (at most one has none), so the location says
        # which row is whose whatever order RETURNING gives them in.
        ids = {location_id: fo_id for fo_id, location_id in written}
        await self.session.execute(
            _OPEN_FULFILLMENT_ORDER_LINES,
            [
                {
                    "fulfillment_order_id": ids[group.location_id],
                    "line_item_id": line_id,
                    "quantity": quantity,
                }
                for group in groups
                for line_id, quantity in group.lines.items()
            ],
        )

    async def delete_fulfillment_orders(self, order_id: int) -> None:
        """Every fulfillment order of the order, with their line items (ON DELETE CASCADE)."""
        await self.session.execute(
            delete(FulfillmentOrder).where(FulfillmentOrder.order_id == order_id)
        )

    async def covered_lines(self, line_ids: Collection[int]) -> set[int]:
        """Which of these order lines an open or in-progress fulfillment order handles."""
        if not line_ids:
            return set()
        rows = await prepared.fetch_in_transaction(
            self.session, _covered_lines(self._postgresql), {"line_ids": sorted(line_ids)}
        )
        return {row[0] for row in rows}

    async def fulfillment_orders_handling(
        self, line_ids: Collection[int]
    ) -> list[FulfillmentOrder]:
        """The fulfillment orders with any of these lines that a change of the lines'
        fulfilled units can move: active ones, and those closed by their fulfillment
        (fulfilled_at set) that a cancelled fulfillment reopens."""
        if not line_ids:
            return []
        rows = await prepared.fetch_in_transaction(
            self.session,
            _fulfillment_orders_handling(self._postgresql),
            {"line_ids": sorted(line_ids)},
        )
        return [attach_loaded(self.session, FulfillmentOrder, row) for row in rows]

    async def cancel_active_fulfillment_orders(self, order_id: int, now: datetime) -> None:
        await self.session.execute(
            update(FulfillmentOrder)
            .where(
                FulfillmentOrder.order_id == order_id,
                FulfillmentOrder.status.in_(ACTIVE_STATUSES),
            )
            .values(status="cancelled", updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def fulfillment_orders(self, *where: ColumnElement[bool]) -> list[FulfillmentOrder]:
        rows = await self.session.scalars(
            select(FulfillmentOrder)
            .where(*where)
            .order_by(FulfillmentOrder.id)
            .execution_options(populate_existing=True)
        )
        return list(rows)

    async def fulfillment_order(self, fulfillment_order_id: int) -> FulfillmentOrder | None:
        return await self.session.get(
            FulfillmentOrder, fulfillment_order_id, populate_existing=True
        )

    async def fulfillment_order_lines(
        self, fulfillment_order_ids: Collection[int]
    ) -> list[tuple[FulfillmentOrderLineItem, OrderLineItem]]:
        """Each fulfillment order line with its order line (for what is left to ship)."""
        if not fulfillment_order_ids:
            return []
        rows = await self.session.execute(
            select(FulfillmentOrderLineItem, OrderLineItem)
            .join(OrderLineItem, OrderLineItem.id == FulfillmentOrderLineItem.line_item_id)
            .where(FulfillmentOrderLineItem.fulfillment_order_id.in_(sorted(fulfillment_order_ids)))
            .order_by(FulfillmentOrderLineItem.fulfillment_order_id, FulfillmentOrderLineItem.id)
        )
        return [(row[0], row[1]) for row in rows]

    # --- fulfillment services --------------------------------------------------------------

    async def services(self) -> list[FulfillmentService]:
        rows = await self.session.scalars(
            select(FulfillmentService).order_by(FulfillmentService.id)
        )
        return list(rows)

    async def service(self, service_id: int) -> FulfillmentService | None:
        return await self.session.get(FulfillmentService, service_id)

    async def handle_taken(self, handle: str) -> bool:
        found = await self.session.scalar(
            select(FulfillmentService.id).where(FulfillmentService.handle == handle)
        )
        return found is not None

    async def add_service(self, service: FulfillmentService) -> FulfillmentService:
        self.session.add(service)
        await self.session.flush()
        return service

    async def service_in_use(self, service_id: int) -> bool:
        found = await self.session.scalar(
            select(FulfillmentOrder.id)
            .where(FulfillmentOrder.fulfillment_service_id == service_id)
            .limit(1)
        )
        return found is not None

    async def delete_service(self, service: FulfillmentService) -> None:
        await self.session.delete(service)
        await self.session.flush()

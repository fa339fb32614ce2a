"""Returns: opening one for fulfilled units, closing it with what came back, cancelling it.

Every change first takes the order's row lock (OrderRepository.lock_placed), as every other
change to a placed order does, and only then reads what is already returned: two returns
opened at once for the same line are serialised on that lock, so together they can never
take more units than were fulfilled. Closing restocks the received units (available and on
hand +q, Shopify's restock type `return`) and, when asked, refunds them in the same
transaction through the refunds' own service, as restock type `return` at the location they
went back to: the refund records that, the return moved the stock (`move_stock=False`). Not
`no_restock`: that takes a partly shipped line's unshipped units first, not the returned
ones. Services never commit: the request is the unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.events.service import record_event
from shopdb.inventory.stock import StockLine, restock_returned
from shopdb.models import Order, OrderLineItem, Return, ReturnLineItem
from shopdb.orders.errors import OrderNotFound
from shopdb.orders.payments import GatewayFor
from shopdb.orders.refunds.schemas import RefundCreate
from shopdb.orders.refunds.service import create_refund
from shopdb.orders.repository import OrderRepository
from shopdb.orders.returns.errors import (
    LineItemNotInOrder,
    ReceivedExceedsReturned,
    RestockLocationRequired,
    ReturnExceedsFulfilled,
    ReturnLineItemNotInReturn,
    ReturnNotFound,
    ReturnNotOpen,
)
from shopdb.orders.returns.repository import ReturnRepository
from shopdb.orders.returns.schemas import (
    ReturnClose,
    ReturnCreate,
    ReturnLineItemRead,
    ReturnRead,
)


def return_read(return_: Return) -> ReturnRead:
    return ReturnRead(
        id=return_.id,
        order_id=return_.order_id,
        status=return_.status,
        note=return_.note,
        location_id=return_.location_id,
        refund_id=return_.refund_id,
        return_line_items=[
            ReturnLineItemRead(
                id=line.id,
                line_item_id=line.line_item_id,
                quantity=line.quantity,
                received_quantity=line.received_quantity,
                reason=line.reason,
                note=line.note,
            )
            for line in return_.line_items
        ],
        created_at=return_.created_at,
        updated_at=return_.updated_at,
        closed_at=return_.closed_at,
        cancelled_at=return_.cancelled_at,
    )


async def _locked_order(session: AsyncSession, order_id: int) -> Order:
    order = await OrderRepository(session).lock_placed(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    return order


async def returnable_units(session: AsyncSession, lines: Sequence[OrderLineItem]) -> dict[int, int]:
    """Per line: fulfilled units not already taken by an open return, received by a closed
    one, or restocked as returned by a refund. Call it under the order's lock."""
    repository = ReturnRepository(session)
    ids = [line.id for line in lines]
    returned = await repository.returned_units(ids)
    restocked = await repository.restocked_by_refunds(ids)
    return {
        line.id: line.fulfilled_quantity - returned.get(line.id, 0) - restocked.get(line.id, 0)
        for line in lines
    }


async def open_return(
    session: AsyncSession, order_id: int, data: ReturnCreate, *, now: datetime, actor: str | None
) -> ReturnRead:
    """Open a return of fulfilled units (422 RETURN_EXCEEDS_FULFILLED past what is left)."""
    order = await _locked_order(session, order_id)
    lines = {line.id: line for line in order.line_items}
    for index, item in enumerate(data.return_line_items):
        if item.line_item_id not in lines:
            field = f"returnLineItems[{index}].lineItemId"
            raise LineItemNotInOrder(item.line_item_id, field)
    returnable = await returnable_units(
        session, [lines[item.line_item_id] for item in data.return_line_items]
    )
    for index, item in enumerate(data.return_line_items):
        left = returnable[item.line_item_id]
        if item.quantity > left:
            field = f"returnLineItems[{index}].quantity"
            raise ReturnExceedsFulfilled(item.line_item_id, max(left, 0), field)
    return_ = Return(
        order_id=order.id,
        status="open",
        note=data.note,
        created_at=now,
        updated_at=now,
        line_items=[
            ReturnLineItem(
                line_item_id=item.line_item_id,
                quantity=item.quantity,
                received_quantity=0,
                reason=item.reason,
                note=item.note,
            )
            for item in data.return_line_items
        ],
    )
    await ReturnRepository(session).add(return_)
    read = return_read(return_)
    _record(session, "returns/create", read, actor)
    return read


def _received(return_: Return, data: ReturnClose) -> dict[int, int]:
    """Units received per return line: all of them when the request names none, else what
    it names (0 for a line it leaves out)."""
    if data.line_items is None:
        return {line.id: line.quantity for line in return_.line_items}
    own = {line.id: line for line in return_.line_items}
    received = dict.fromkeys(own, 0)
    for index, item in enumerate(data.line_items):
        line = own.get(item.return_line_item_id)
        if line is None:
            field = f"lineItems[{index}].returnLineItemId"
            raise ReturnLineItemNotInReturn(item.return_line_item_id, field)
        if item.received_quantity > line.quantity:
            field = f"lineItems[{index}].receivedQuantity"
            raise ReceivedExceedsReturned(line.id, line.quantity, field)
        received[line.id] = item.received_quantity
    return received


async def _open_return_of(session: AsyncSession, order_id: int, return_id: int) -> Return:
    return_ = await ReturnRepository(session).get(order_id, return_id)
    if return_ is None:
        raise ReturnNotFound(order_id, return_id)
    if return_.status != "open":
        raise ReturnNotOpen(return_id, return_.status)
    return return_


async def close_return(
    session: AsyncSession,
    gateway_for: GatewayFor,
    order_id: int,
    return_id: int,
    data: ReturnClose,
    *,
    now: datetime,
    actor: str | None,
) -> ReturnRead:
    """Close an open return with the units received: they are restocked (at `locationId`, or
    where each line was committed from) and, with `refund`, refunded at once."""
    order = await _locked_order(session, order_id)
    return_ = await _open_return_of(session, order_id, return_id)
    received = _received(return_, data)
    lines = {line.id: line for line in order.line_items}
    stock: list[StockLine] = []
    for index, item in enumerate(return_.line_items):
        line = lines[item.line_item_id]
        quantity = received[item.id]
        if quantity == 0 or line.inventory_item_id is None:
            continue  # nothing came back, or an untracked item: no stock to count
        location_id = data.location_id or line.location_id
        if location_id is None:
            raise RestockLocationRequired(line.id)
        field = "locationId" if data.location_id else f"lineItems[{index}].receivedQuantity"
        stock.append(StockLine(line.inventory_item_id, location_id, quantity, field))
    # The stock first, the refund last: the refund calls the payment gateway, which no
    # rollback undoes, so nothing that can still be refused should come after it.
    if stock:
        await restock_returned(
            session, stock, reason="restock", note=f"return {return_.id}", actor=actor
        )
    refund_id: int | None = None
    if data.refund and any(received.values()):
        created = await create_refund(
            session,
            gateway_for,
            order_id,
            _refund_of(return_, received, lines, data.location_id),
            now=now,
            actor=actor,
            move_stock=False,  # restocked above
        )
        refund_id = created.refund.id
    for item in return_.line_items:
        item.received_quantity = received[item.id]
    return_.status = "closed"
    return_.closed_at = now
    return_.updated_at = now
    return_.location_id = data.location_id if stock else None
    return_.refund_id = refund_id
    await session.flush()
    read = return_read(return_)
    _record(session, "returns/close", read, actor)
    return read


def _refund_of(
    return_: Return,
    received: dict[int, int],
    lines: dict[int, OrderLineItem],
    location_id: int | None,
) -> RefundCreate:
    """The refund of a return's received units: shipped units back in stock (restock type
    `return`, at the location they were restocked at), which the refund only records."""
    items = []
    for item in return_.line_items:
        if received[item.id] == 0:
            continue
        line = lines[item.line_item_id]
        entry: dict[str, object] = {
            "lineItemId": line.id,
            "quantity": received[item.id],
            "restockType": "return",
        }
        if line.inventory_item_id is not None:
            entry["locationId"] = location_id or line.location_id
        items.append(entry)
    return RefundCreate.model_validate({"refundLineItems": items, "note": f"Return {return_.id}"})


async def cancel_return(
    session: AsyncSession, order_id: int, return_id: int, *, now: datetime, actor: str | None
) -> ReturnRead:
    """Cancel an open return: nothing came back; its units may be returned again."""
    await _locked_order(session, order_id)
    return_ = await _open_return_of(session, order_id, return_id)
    return_.status = "cancelled"
    return_.cancelled_at = now
    return_.updated_at = now
    await session.flush()
    read = return_read(return_)
    _record(session, "returns/cancel", read, actor)
    return read


async def get_return(session: AsyncSession, order_id: int, return_id: int) -> ReturnRead:
    return_ = await ReturnRepository(session).get(order_id, return_id)
    if return_ is None:
        if not await ReturnRepository(session).placed_order_exists(order_id):
            raise OrderNotFound(order_id)
        raise ReturnNotFound(order_id, return_id)
    return return_read(return_)


async def list_returns(session: AsyncSession, order_id: int) -> list[ReturnRead]:
    repository = ReturnRepository(session)
    if not await repository.placed_order_exists(order_id):
        raise OrderNotFound(order_id)
    return [return_read(r) for r in await repository.of_order(order_id)]


def _record(session: AsyncSession, topic: str, read: ReturnRead, actor: str | None) -> None:
    record_event(
        session,
        topic=topic,
        subject_type="Return",
        subject_id=read.id,
        body=read.model_dump(mode="json", by_alias=True),
        actor=actor,
    )

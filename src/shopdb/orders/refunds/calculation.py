"""What a refund is worth and which units it takes: pure rules, no database.

Money. A line's units are worth `price x n` less their share of the line's discount; the
order's tax is split once over its taxable lines (after discounts) and its shipping (when the
tax lines show it was taxed), in proportion, to the cent (pricing.allocate). A refund of `q`
units of a line after `r` were refunded is worth `worth(r + q) - worth(r)`, where `worth(n)`
rounds the line's discount and tax shares for `n` of its units once: however a line is
refunded, piece by piece or at once, its refunds add up to exactly its discounted total and
its tax. Shipping likewise, by amount: the refunded shipping's tax is the shipping tax's
share for the shipping refunded so far, less what earlier refunds took. Refunding everything
therefore gives back the order's total price, to the cent.

Units. Of a line's `quantity`, `fulfilled_quantity` were shipped and `removed_quantity` taken
off before shipping (by earlier refunds and cancels, which are refunds too); what is left to
fulfil is the rest. A refund takes:
- restockType `cancel`: unfulfilled units only (their committed stock goes back to available);
- `return`: fulfilled units not refunded yet (they are put back on sale where they arrive);
- `no_restock`: unfulfilled units first (they will not ship), then fulfilled ones.
Every unit a refund takes is counted in its refund line; units refunded never exceed the
line's quantity, and the unfulfilled ones among them are exactly the line's removed units.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from shopdb.errors import ValidationFailed
from shopdb.models import Order, OrderLineItem
from shopdb.orders.pricing import allocate, quantum
from shopdb.orders.refunds.errors import (
    RefundLineItemInvalid,
    RefundQuantityExceeded,
    RestockCancelExceedsUnfulfilled,
    RestockReturnExceedsFulfilled,
    ShippingRefundExceeded,
)
from shopdb.orders.refunds.repository import LineRefunded, RefundHistory
from shopdb.orders.refunds.schemas import RefundCalculate

ZERO = Decimal(0)


def share(amount: Decimal, part: Decimal, whole: Decimal, currency: str) -> Decimal:
    """`amount x part / whole` in the currency's minor units, half up (0 when whole is 0)."""
    if whole == 0 or amount == 0:
        return ZERO.quantize(quantum(currency))
    return (amount * part / whole).quantize(quantum(currency), rounding=ROUND_HALF_UP)


def line_goods(line: OrderLineItem) -> Decimal:
    """The line's total after its discount share."""
    return line.price * line.quantity - line.total_discount


def _tax_lines(order: Order) -> list[tuple[Decimal, Decimal]]:
    found: list[tuple[Decimal, Decimal]] = []
    for entry in order.tax_lines or []:
        if not isinstance(entry, dict):
            continue
        try:
            found.append((Decimal(str(entry.get("rate", 0))), Decimal(str(entry.get("amount", 0)))))
        except InvalidOperation:
            continue
    return found


def shipping_was_taxed(order: Order) -> bool:
    """Whether the order's tax was charged on its shipping too. The order keeps its tax lines
    (rate and amount) but not the rule's shipping_taxable flag, so this asks which base the
    tax lines' amounts fit: the taxable goods alone, or with the shipping added."""
    shipping = order.total_shipping
    if shipping <= 0 or order.total_tax <= 0:
        return False
    goods = sum((line_goods(line) for line in order.line_items if line.taxable), ZERO)
    lines = _tax_lines(order)
    if not lines:
        return False
    total_rate = sum((rate for rate, _ in lines), ZERO)

    def expected(base: Decimal) -> Decimal:
        net = base / (1 + total_rate) if order.taxes_included else base
        return sum((rate * net for rate, _ in lines), ZERO)

    with_shipping = abs(expected(goods + shipping) - order.total_tax)
    without = abs(expected(goods) - order.total_tax)
    return with_shipping < without


@dataclass(frozen=True)
class TaxSplit:
    lines: dict[int, Decimal]  # line id -> its share of the order's tax
    shipping: Decimal


def split_tax(order: Order) -> TaxSplit:
    """The order's tax over its taxable lines (after discounts) and, if taxed, its shipping;
    the shares add up to total_tax exactly."""
    lines = list(order.line_items)
    weights = [line_goods(line) if line.taxable else ZERO for line in lines]
    weights.append(order.total_shipping if shipping_was_taxed(order) else ZERO)
    if sum(weights, ZERO) == 0 and order.total_tax > 0:
        # Nothing looks taxable (a rate on shipping alone, or data from before the tax
        # rules): split over every line and the shipping, so the tax is still refundable.
        weights = [line_goods(line) for line in lines] + [order.total_shipping]
    shares = allocate(order.total_tax, weights, order.currency)
    return TaxSplit({line.id: s for line, s in zip(lines, shares, strict=False)}, shares[-1])


def line_worth(
    line: OrderLineItem, units: int, tax: Decimal, currency: str
) -> tuple[Decimal, Decimal]:
    """(subtotal, tax) of the line's first `units` units (see the module docstring)."""
    subtotal = line.price * units - share(
        line.total_discount, Decimal(units), Decimal(line.quantity), currency
    )
    return subtotal, share(tax, Decimal(units), Decimal(line.quantity), currency)


@dataclass
class _LineState:
    """A line's units as the refund being planned leaves them."""

    line: OrderLineItem
    refunded: int  # units refunded, earlier refunds and this one's lines so far
    unfulfilled: int  # units left to fulfil
    returnable: int  # fulfilled units not refunded
    # Of them, units a refund may restock as returned: not held by a return, which restocks
    # its units itself (RefundHistory.in_returns).
    restockable: int = 0

    @classmethod
    def of(cls, line: OrderLineItem, before: LineRefunded, in_returns: int = 0) -> _LineState:
        fulfilled = line.fulfilled_quantity or 0
        removed = line.removed_quantity or 0
        returnable = max(fulfilled - (before.quantity - before.removed), 0)
        return cls(
            line=line,
            refunded=before.quantity,
            unfulfilled=max(line.quantity - fulfilled - removed, 0),
            returnable=returnable,
            restockable=max(returnable - in_returns, 0),
        )


@dataclass(frozen=True)
class PlannedLine:
    line: OrderLineItem
    quantity: int
    restock_type: str
    removed: int  # of quantity, units taken off unfulfilled
    location_id: int | None  # where the units are restocked (None: nowhere)
    subtotal: Decimal
    total_tax: Decimal


@dataclass(frozen=True)
class PlannedShipping:
    amount: Decimal
    tax: Decimal
    maximum_refundable: Decimal


@dataclass(frozen=True)
class RefundPlan:
    order: Order
    lines: list[PlannedLine]
    shipping: PlannedShipping
    subtotal: Decimal
    total_tax: Decimal
    total_amount: Decimal
    currency: str


def plan_refund(
    order: Order, history: RefundHistory, data: RefundCalculate, *, restocked: bool = False
) -> RefundPlan:
    """The refund `data` asks of `order`, after the refunds in `history` (422 for any unit
    it cannot take, any line not of the order, any shipping beyond what is left).

    `restocked`: the caller (a return being closed) has put the units back itself, so its
    `return` lines may take the units its own return holds."""
    currency = order.currency
    tax = split_tax(order)
    lines = {line.id: line for line in order.line_items}
    states: dict[int, _LineState] = {}
    planned: list[PlannedLine] = []
    for position, item in enumerate(data.refund_line_items):
        field_name = f"refundLineItems[{position}]"
        line = lines.get(item.line_item_id)
        if line is None:
            raise RefundLineItemInvalid(item.line_item_id, f"{field_name}.lineItemId")
        state = states.get(line.id)
        if state is None:
            state = states[line.id] = _LineState.of(
                line,
                history.lines.get(line.id, LineRefunded()),
                0 if restocked else history.in_returns.get(line.id, 0),
            )
        # Never beyond the units not refunded yet, whatever the fulfilled count says (a
        # unit refunded once stays refunded even if its shipment were later undone).
        left = min(state.unfulfilled + state.returnable, line.quantity - state.refunded)
        if item.quantity > left:
            raise RefundQuantityExceeded(line.id, item.quantity, left, f"{field_name}.quantity")
        for restock_type, quantity, removed in _takes(
            state, item.restock_type, item.quantity, data.restock, field_name
        ):
            location = _location(line, restock_type, item.location_id, field_name)
            before = line_worth(line, state.refunded, tax.lines.get(line.id, ZERO), currency)
            after = line_worth(
                line, state.refunded + quantity, tax.lines.get(line.id, ZERO), currency
            )
            state.refunded += quantity
            state.unfulfilled -= removed
            state.returnable -= quantity - removed
            state.restockable = min(
                state.restockable - (quantity if restock_type == "return" else 0),
                state.returnable,
            )
            planned.append(
                PlannedLine(
                    line=line,
                    quantity=quantity,
                    restock_type=restock_type,
                    removed=removed,
                    location_id=location,
                    subtotal=after[0] - before[0],
                    total_tax=after[1] - before[1],
                )
            )
    shipping = _shipping(order, history, data, tax.shipping)
    subtotal = sum((p.subtotal for p in planned), ZERO)
    total_tax = sum((p.total_tax for p in planned), ZERO) + shipping.tax
    total = subtotal + shipping.amount + (ZERO if order.taxes_included else total_tax)
    step = quantum(currency)
    return RefundPlan(
        order=order,
        lines=planned,
        shipping=shipping,
        subtotal=subtotal.quantize(step),
        total_tax=total_tax.quantize(step),
        total_amount=total.quantize(step),
        currency=currency,
    )


def _takes(
    state: _LineState, restock_type: str | None, quantity: int, restock: bool, field_name: str
) -> list[tuple[str, int, int]]:
    """[(restock type, units, of them unfulfilled)] a refund line takes: one entry, or two
    for the legacy restock (unfulfilled units cancelled, fulfilled ones returned)."""
    line_id = state.line.id
    if restock_type is None and restock:
        cancelled = min(quantity, state.unfulfilled)
        if quantity - cancelled > state.restockable:
            raise RestockReturnExceedsFulfilled(
                line_id, quantity - cancelled, state.restockable, f"{field_name}.quantity"
            )
        parts = [("cancel", cancelled, cancelled), ("return", quantity - cancelled, 0)]
        return [p for p in parts if p[1] > 0]
    if restock_type == "cancel":
        if quantity > state.unfulfilled:
            raise RestockCancelExceedsUnfulfilled(
                line_id, quantity, state.unfulfilled, f"{field_name}.quantity"
            )
        return [("cancel", quantity, quantity)]
    if restock_type == "return":
        if quantity > state.restockable:
            raise RestockReturnExceedsFulfilled(
                line_id, quantity, state.restockable, f"{field_name}.quantity"
            )
        return [("return", quantity, 0)]
    return [("no_restock", quantity, min(quantity, state.unfulfilled))]


def _location(
    line: OrderLineItem, restock_type: str, asked: int | None, field_name: str
) -> int | None:
    """Where the units go back to stock: nowhere for no_restock or an untracked line; the
    line's committed location for cancel; the asked location (default the line's) for return."""
    if restock_type == "cancel" and asked is not None and asked != line.location_id:
        # Cancelled units were never shipped: they are committed where placement put them.
        raise ValidationFailed.on(
            f"{field_name}.locationId",
            f"cancel restocks where the units were committed (location {line.location_id})",
        )
    if restock_type == "no_restock" or line.inventory_item_id is None:
        return None
    if restock_type == "cancel":
        return line.location_id
    return asked or line.location_id


def _shipping(
    order: Order, history: RefundHistory, data: RefundCalculate, shipping_tax: Decimal
) -> PlannedShipping:
    charged = order.total_shipping
    left = max(charged - history.shipping, ZERO)
    asked = data.shipping
    if asked is None:
        amount = ZERO
    elif asked.full_refund:
        amount = left
    else:
        amount = asked.amount or ZERO
    if amount > left:
        raise ShippingRefundExceeded(amount, left)
    currency = order.currency
    tax = share(shipping_tax, history.shipping + amount, charged, currency) - share(
        shipping_tax, history.shipping, charged, currency
    )
    step = quantum(currency)
    return PlannedShipping(
        amount=amount.quantize(step), tax=tax, maximum_refundable=left.quantize(step)
    )


def plan_is_empty(plan: RefundPlan) -> bool:
    return not plan.lines and plan.shipping.amount == 0

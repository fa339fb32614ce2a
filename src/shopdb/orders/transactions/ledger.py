"""What an order's transactions add up to: pure rules over `order_transactions` rows.

No database access: every function reads the transactions already loaded on the order
(OrderRepository.lock_placed loads them fresh under the order's lock), so the amounts a
change is checked against are the ones no concurrent change can move meanwhile.

Two sums for each amount. What is *settled* counts `success` rows only: it is what the
financial status reports. What is *held* counts `pending` rows too: a pending capture or
refund (Stripe's "processing", a manual payment waiting for the money) may still succeed,
so it already uses up what it asked for and the limits count it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from shopdb.models import Order, OrderTransaction
from shopdb.orders.reservations import GIFT_CARD_GATEWAY

ZERO = Decimal(0)
SETTLED = frozenset({"success"})
HELD = frozenset({"success", "pending"})
# Stripe captures a PaymentIntent once: a partial capture releases the rest of it.
CAPTURES_ONCE = frozenset({"stripe"})


class Ledger:
    """An order's transactions indexed by parent, oldest first (by id)."""

    def __init__(self, order: Order) -> None:
        self.order = order
        self.transactions = sorted(order.transactions, key=lambda t: t.id)
        self._children: dict[int, list[OrderTransaction]] = defaultdict(list)
        for transaction in self.transactions:
            if transaction.parent_id is not None:
                self._children[transaction.parent_id].append(transaction)

    def children(
        self, parent: OrderTransaction, kind: str, statuses: frozenset[str] = HELD
    ) -> list[OrderTransaction]:
        return [t for t in self._children[parent.id] if t.kind == kind and t.status in statuses]

    def by_id(self, transaction_id: int) -> OrderTransaction | None:
        return next((t for t in self.transactions if t.id == transaction_id), None)

    # --- authorizations ---------------------------------------------------------------------

    @staticmethod
    def takes_captures(transaction: OrderTransaction) -> bool:
        """An authorization (granted, or pending: a manual payment), or a manual sale still
        pending, which a capture settles once the money has come in."""
        if transaction.gateway == GIFT_CARD_GATEWAY:
            return False
        if transaction.kind == "authorization":
            return transaction.status in HELD
        return transaction.kind == "sale" and transaction.status == "pending"

    def voided(self, authorization: OrderTransaction) -> bool:
        return bool(self.children(authorization, "void"))

    def captured_of(self, parent: OrderTransaction) -> Decimal:
        return _sum(self.children(parent, "capture"))

    def capturable_of(self, parent: OrderTransaction) -> Decimal:
        """What is left to capture of `parent` (zero for anything that takes no capture)."""
        if not self.takes_captures(parent) or self.voided(parent):
            return ZERO
        captured = self.captured_of(parent)
        if parent.gateway in CAPTURES_ONCE and captured > 0:
            return ZERO
        return max(parent.amount - captured, ZERO)

    def capturable(self) -> list[OrderTransaction]:
        """What a capture may name, newest first."""
        return [t for t in reversed(self.transactions) if self.capturable_of(t) > 0]

    def voidable(self, authorization: OrderTransaction) -> bool:
        return (
            authorization.kind == "authorization"
            and authorization.status in HELD
            and authorization.gateway != GIFT_CARD_GATEWAY
            and not self.voided(authorization)
            and not self.children(authorization, "capture")
        )

    def voidables(self) -> list[OrderTransaction]:
        """The authorizations with nothing captured and not voided, newest first."""
        return [t for t in reversed(self.transactions) if self.voidable(t)]

    def authorized_uncaptured(self) -> Decimal:
        """What granted authorizations still hold on cards, not captured nor voided."""
        return _sum_of(
            self.capturable_of(t)
            for t in self.transactions
            if t.kind == "authorization" and t.status in SETTLED
        )

    # --- money taken and given back ---------------------------------------------------------

    @staticmethod
    def took_money(transaction: OrderTransaction) -> bool:
        return transaction.kind in ("capture", "sale") and transaction.status in SETTLED

    def captured(self) -> Decimal:
        return _sum(t for t in self.transactions if self.took_money(t))

    def refunded(self, statuses: frozenset[str] = SETTLED) -> Decimal:
        return _sum(t for t in self.transactions if t.kind == "refund" and t.status in statuses)

    def refundable_of(self, parent: OrderTransaction) -> Decimal:
        if not self.took_money(parent):
            return ZERO
        return max(parent.amount - _sum(self.children(parent, "refund")), ZERO)

    def refundable(self) -> Decimal:
        # Capped by the order's whole too: a refund recorded without a parent (older rows)
        # still used up what was captured.
        per_parent = _sum_of(self.refundable_of(t) for t in self.transactions)
        return max(min(per_parent, self.captured() - self.refunded(HELD)), ZERO)

    def refundables(self) -> list[OrderTransaction]:
        """What a refund may name, newest first."""
        return [t for t in reversed(self.transactions) if self.refundable_of(t) > 0]

    def due(self) -> Decimal:
        """What the order is to be paid in all: its total, less an early-payment discount or
        plus a late fee decided when an order on B2B payment terms was paid (both 0 for
        any other order: shopdb.companies.terms)."""
        order = self.order
        return order.total_price - (order.early_payment_discount or ZERO) + (order.late_fee or ZERO)

    def outstanding(self) -> Decimal:
        """What the order still has to be paid: what is due less what was taken and what is
        authorized (or pending) and may still be captured."""
        promised = _sum_of(self.capturable_of(t) for t in self.transactions)
        return max(self.due() - self.captured() - promised, ZERO)

    def financial_status(self) -> str:
        """Shopify's financial status. The same as placement's for a just-placed order
        (orders.payments.financial_status): gift cards with an authorization are
        `authorized` until a first capture; partially captured, `partially_paid`."""
        captured = self.captured()
        refunded = self.refunded()
        if refunded > 0:
            return "refunded" if refunded >= captured else "partially_refunded"
        total = self.due()
        if captured >= total and (captured > 0 or total <= 0):
            return "paid"  # a free order was never due anything, as placement says
        authorized = self.authorized_uncaptured()
        captures = any(t.kind == "capture" and t.status in SETTLED for t in self.transactions)
        if authorized > 0 and not captures:
            return "authorized"
        if captured > 0:
            return "partially_paid"
        if any(t.kind == "void" and t.status in SETTLED for t in self.transactions):
            return "voided"
        return "pending"


def _sum(transactions: Iterable[OrderTransaction]) -> Decimal:
    return _sum_of(t.amount for t in transactions)


def _sum_of(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, ZERO)


def refundable_amount(order: Order) -> Decimal:
    """What was captured (or sold) and not yet refunded, pending refunds counted."""
    return Ledger(order).refundable()


def captured_amount(order: Order) -> Decimal:
    """What the order's successful captures and sales took, gift cards included."""
    return Ledger(order).captured()


def authorized_uncaptured(order: Order) -> Decimal:
    """What granted authorizations still hold: neither captured nor voided."""
    return Ledger(order).authorized_uncaptured()


def financial_status_of(order: Order) -> str:
    """The order's financial status as its transactions state it (see Ledger)."""
    return Ledger(order).financial_status()

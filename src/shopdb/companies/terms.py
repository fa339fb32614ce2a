"""Orders on B2B payment terms: placed against a company's credit, paid later.

POST /api/v1/orders with `companyId` (and optionally `paymentTermsId`; by default the
company's first term, by id) and no `payment` places the order on terms (orders.placement
calls `terms_for_order` before anything is written and `hold_credit` after its stock):

- The order stays `pending`; it records the company, the term and the term as it said then
  (`orders.payment_terms`: later edits of the term do not change what was agreed), and
  `payment_due_at` = processed_at + netDays.
- Its total is added to the company's `outstanding_balance` by one guarded UPDATE that
  refuses to go above `credit_limit` (409 CREDIT_LIMIT_EXCEEDED); the UPDATE's row lock
  serialises the company's concurrent terms orders, and PostgreSQL re-checks the condition
  for each waiter, so whatever the concurrency the orders admitted fit the credit. The order
  keeps what it holds in `orders.credit_held`: `outstanding_balance` is always the sum of its
  orders' `credit_held`.
- Lock order: the company row is taken last, after the order's stock, as a cancellation
  (stock, then company) and a payment (order, then company) take it: no cycle.

Paying (POST /api/v1/orders/{id}/transactions, kind `sale` or `authorization`; the orders
domain calls `price_terms_payment` under the order's lock, before the amount due is read):

- Within `earlyPaymentDiscountDays` of processed_at (inclusive), `discountPercentage` of the
  total is taken off what is due: recorded in `orders.early_payment_discount`.
- After `payment_due_at`, `latePaymentFeePercentage` of the total is added to what is due:
  recorded in `orders.late_fee`.
- Both are decided again at each payment request (a payment refused in the window and made
  after it gets no discount) and left alone once the order is paid. The orders ledger reads
  the amount due as total_price - early_payment_discount + late_fee, so a payment of that
  amount makes the order `paid`.

Whenever a transaction settles (`settle_payment_terms`, from the orders transactions'
settlement and from cancellation): what the order holds drops to what is still unpaid of its
total (a partial payment releases what it paid), and to zero once it is paid, refunded or
cancelled; the difference is taken off the company's balance in the same transaction.
Amounts are rounded half-even to cents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.companies.errors import (
    CompanyInactive,
    CreditLimitExceeded,
    TermsOrderInvalid,
)
from shopdb.companies.repository import CompanyRepository, PaymentTermRepository
from shopdb.kit.types import round_money
from shopdb.models import B2BPaymentTerm, Order

ZERO = Decimal(0)
HUNDRED = Decimal(100)
# Statuses in which an order on terms owes nothing more.
SETTLED = frozenset({"paid", "partially_refunded", "refunded"})
# Statuses in which a payment request re-decides the discount and the fee.
UNPAID = frozenset({"pending", "partially_paid", "authorized", "voided"})


@dataclass(frozen=True)
class OrderTerms:
    """The term a terms order is placed on, resolved and checked before anything is written."""

    company_id: int
    term_id: int
    net_days: int
    snapshot: dict[str, Any]


def snapshot_of(term: B2BPaymentTerm) -> dict[str, Any]:
    """The term as the order records it (orders.payment_terms), decimals as strings."""
    fee = term.late_payment_fee_percentage
    return {
        "netDays": term.net_days,
        "discountPercentage": str(term.discount_percentage),
        "earlyPaymentDiscountDays": term.early_payment_discount_days,
        "latePaymentFeePercentage": None if fee is None else str(fee),
    }


# --- pure rules ------------------------------------------------------------------------------


def _percent_of(total: Decimal, percentage: Any) -> Decimal:
    if percentage is None:
        return ZERO
    return round_money(total * Decimal(str(percentage)) / HUNDRED)


def early_payment_discount(order: Order, now: datetime) -> Decimal:
    """What paying the order at `now` takes off: discountPercentage of the total while
    `now` is within earlyPaymentDiscountDays of the order's processing, else 0."""
    terms = order.payment_terms
    if not terms or order.processed_at is None:
        return ZERO
    days = terms.get("earlyPaymentDiscountDays")
    if days is None or now > order.processed_at + timedelta(days=int(days)):
        return ZERO
    return _percent_of(order.total_price, terms.get("discountPercentage"))


def late_fee(order: Order, now: datetime) -> Decimal:
    """What paying the order at `now` adds: latePaymentFeePercentage of the total once
    `now` is past its due date, else 0."""
    terms = order.payment_terms
    if not terms or order.payment_due_at is None or now <= order.payment_due_at:
        return ZERO
    return _percent_of(order.total_price, terms.get("latePaymentFeePercentage"))


def is_overdue(order: Order, now: datetime) -> bool:
    return order.credit_held > 0 and order.payment_due_at is not None and now > order.payment_due_at


def captured_of(order: Order) -> Decimal:
    """What the order's successful captures and sales took (its transactions loaded)."""
    return sum(
        (
            t.amount
            for t in order.transactions
            if t.kind in ("capture", "sale") and t.status == "success"
        ),
        ZERO,
    )


def amount_due_now(order: Order, paid: Decimal, now: datetime) -> Decimal:
    """What paying the order at `now` would take, `paid` having been paid already."""
    if order.cancelled_at is not None or order.financial_status in SETTLED:
        return ZERO
    due = order.total_price - early_payment_discount(order, now) + late_fee(order, now)
    return max(due - paid, ZERO)


# --- placing ---------------------------------------------------------------------------------


async def terms_for_order(
    session: AsyncSession,
    *,
    company_id: int | None,
    payment_terms_id: int | None,
    paying: bool,
    gift_cards: bool,
) -> OrderTerms | None:
    """The term an order is placed on (None: not a terms order), or a 400 naming the field.

    A terms order takes no payment and no gift card now: it is paid later, through
    POST /api/v1/orders/{id}/transactions."""
    if company_id is None:
        if payment_terms_id is not None:
            raise TermsOrderInvalid("paymentTermsId", "requires companyId")
        return None
    if paying:
        raise TermsOrderInvalid(
            "payment",
            "is not taken for an order on payment terms: pay it later through "
            "POST /api/v1/orders/{id}/transactions",
        )
    if gift_cards:
        raise TermsOrderInvalid("giftCardCodes", "are not taken for an order on payment terms")
    company = await CompanyRepository(session).get(company_id)
    if company is None:
        raise TermsOrderInvalid("companyId", "does not exist")
    if company.status != "active":
        raise CompanyInactive(company_id, company.status)
    terms = PaymentTermRepository(session)
    if payment_terms_id is None:
        term = await terms.first_of(company_id)
        if term is None:
            raise TermsOrderInvalid("companyId", "has no payment terms")
    else:
        term = await terms.get(payment_terms_id)
        if term is None or term.company_id != company_id:
            raise TermsOrderInvalid("paymentTermsId", "is not a payment term of this company")
    return OrderTerms(company_id, term.id, term.net_days, snapshot_of(term))


async def hold_credit(session: AsyncSession, order: Order, terms: OrderTerms) -> None:
    """Put the written order on `terms`: its total taken from the company's credit (409
    CREDIT_LIMIT_EXCEEDED or COMPANY_INACTIVE when refused; the request then rolls back with
    the order), its due date set."""
    amount = order.total_price
    companies = CompanyRepository(session)
    if not await companies.hold_credit(terms.company_id, amount):
        company = await companies.get(terms.company_id)
        if company is None:
            raise TermsOrderInvalid("companyId", "does not exist")
        if company.status != "active":
            raise CompanyInactive(company.id, company.status)
        available = max(company.credit_limit - company.outstanding_balance, ZERO)
        raise CreditLimitExceeded(company.id, amount, available)
    processed = order.processed_at
    assert processed is not None  # placed at once: processed when written
    order.company_id = terms.company_id
    order.payment_terms_id = terms.term_id
    order.payment_terms = terms.snapshot
    order.payment_due_at = processed + timedelta(days=terms.net_days)
    order.credit_held = amount
    await session.flush()


# --- paying ----------------------------------------------------------------------------------


def price_terms_payment(order: Order, now: datetime) -> None:
    """Decide the early-payment discount and the late fee for a payment requested at `now`
    (see the module docstring). `order` is locked by the caller; not a terms order: no-op."""
    if order.payment_terms is None or order.cancelled_at is not None:
        return
    if order.financial_status not in UNPAID:
        return
    discount = early_payment_discount(order, now)
    fee = late_fee(order, now)
    if (order.early_payment_discount, order.late_fee) != (discount, fee):
        order.early_payment_discount = discount
        order.late_fee = fee


async def settle_payment_terms(session: AsyncSession, order: Order) -> None:
    """After a transaction or a cancellation of the locked `order`: release the credit it no
    longer needs (see the module docstring). Not a terms order, or nothing held: no-op."""
    held = order.credit_held
    if order.company_id is None or held is None or held <= 0:
        return
    if order.cancelled_at is not None or order.financial_status in SETTLED:
        still_owed = ZERO
    else:
        # What was paid, not a discount decided for a payment that has not come in yet.
        still_owed = max(order.total_price - captured_of(order), ZERO)
    keep = min(held, still_owed)
    if keep == held:
        return
    order.credit_held = keep
    await CompanyRepository(session).release_credit(order.company_id, held - keep)
    await session.flush()

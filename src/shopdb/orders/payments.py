"""The orders domain's calls to a payment gateway: pay, undo, and what the outcome means.

Each call carries an idempotency key derived from the order and the operation: a retry of the
same order's payment (by this process, or after an error) never charges twice.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from shopdb.config import Settings
from shopdb.payments.gateways.base import GatewayResult, PaymentGateway

GatewayFor = Callable[[str], PaymentGateway]
ZERO = Decimal(0)


def registry_gateways(settings: Settings) -> GatewayFor:
    """The gateways configured in `settings` (an unknown name: 400 naming payment.gateway)."""

    def find(name: str) -> PaymentGateway:
        from shopdb.payments.gateways.registry import gateway_for

        return gateway_for(name, settings)

    return find


def payment_key(order_id: int, operation: str) -> str:
    return f"shopdb-order-{order_id}-{operation}"


def numbered_payment_key(order_number: int, operation: str) -> str:
    """The key of a payment made before its order has an id (placed at once: placement.py);
    order numbers are as unique as ids."""
    return f"shopdb-order-number-{order_number}-{operation}"


async def pay(
    gateway: PaymentGateway,
    *,
    order_id: int,
    amount: Decimal,
    currency: str,
    token: str,
    capture: bool,
    idempotency_key: str | None = None,
) -> GatewayResult:
    """`sale` when capturing, else `authorize`; an `error` (nothing decided, or the outcome
    unknown) is asked once more with the same key, which the gateway answers with the first
    call's outcome or decides now. The key is derived from `order_id` unless given."""
    call = gateway.sale if capture else gateway.authorize
    key = idempotency_key or payment_key(order_id, "sale" if capture else "authorize")
    result = await call(amount=amount, currency=currency, token=token, idempotency_key=key)
    if result.status == "error":
        result = await call(amount=amount, currency=currency, token=token, idempotency_key=key)
    return result


async def undo_gateway_payment(
    gateway: PaymentGateway,
    order_id: int,
    kind: str,
    reference: str,
    amount: Decimal,
    currency: str,
) -> bool:
    """Void an authorization, or refund a sale in full; True when the gateway confirms."""
    if kind == "authorization":
        key = payment_key(order_id, "void")
        answer = await gateway.void(reference=reference, idempotency_key=key)
    else:
        answer = await gateway.refund(
            reference=reference,
            amount=amount,
            currency=currency,
            idempotency_key=payment_key(order_id, "refund"),
        )
    return answer.succeeded


def financial_status(
    total: Decimal, gift_cards_paid: Decimal, result: GatewayResult | None, capture: bool
) -> str:
    """Shopify's financial status of a just-placed order."""
    card_paid = result.amount if result is not None and result.succeeded and capture else ZERO
    if gift_cards_paid + card_paid >= total:
        return "paid"
    if result is not None and result.succeeded and not capture:
        return "authorized"
    if gift_cards_paid + card_paid > 0:
        return "partially_paid"
    return "pending"

"""The manual gateway: bank transfer, cash on delivery, anything settled outside shopdb.

An authorization or a sale is `pending` until the merchant records the money as received,
which is a capture (`success`). Void and refund succeed at once: no money moved through
shopdb, the merchant returns it the way it came. There is no card, so no brand or last four,
and the token is ignored (orders may send an empty one).

Like the test gateway it keeps no state: a payment's reference carries its amount and
currency and derives from the idempotency key, so the same call returns the same result in
every server process.
"""

from __future__ import annotations

import hashlib
import time
from decimal import Decimal, InvalidOperation

from shopdb.payments.gateways.amounts import check_amount
from shopdb.payments.gateways.base import GatewayResult
from shopdb.payments.gateways.logs import log_result

_PREFIX = "man"


def _digest(idempotency_key: str) -> str:
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


def _parse_reference(reference: str) -> tuple[Decimal, str] | None:
    parts = reference.split("_")
    if len(parts) != 5 or parts[0] != _PREFIX or parts[1] not in ("auth", "sale"):
        return None
    try:
        amount = Decimal(parts[4])
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0:
        return None
    return amount, parts[3]


class ManualGateway:
    name = "manual"
    local = True

    async def authorize(
        self, *, amount: Decimal, currency: str, token: str, idempotency_key: str
    ) -> GatewayResult:
        return self._pending("authorize", "auth", amount, currency, idempotency_key)

    async def sale(
        self, *, amount: Decimal, currency: str, token: str, idempotency_key: str
    ) -> GatewayResult:
        return self._pending("sale", "sale", amount, currency, idempotency_key)

    async def capture(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        return self._settle("capture", reference, amount, currency, reference)

    async def void(self, *, reference: str, idempotency_key: str) -> GatewayResult:
        started = time.perf_counter()
        payment = _parse_reference(reference)
        if payment is None:
            result = _unknown(Decimal(0), "")
        else:
            amount, currency = payment
            result = GatewayResult(
                status="success", amount=amount, currency=currency, reference=reference
            )
        return self._done("void", started, result)

    async def refund(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        refund_reference = f"{_PREFIX}_refund_{_digest(idempotency_key)}"
        return self._settle("refund", reference, amount, currency, refund_reference)

    def _pending(
        self, operation: str, kind: str, amount: Decimal, currency: str, key: str
    ) -> GatewayResult:
        started = time.perf_counter()
        amount, currency = check_amount(amount, currency)
        reference = "_".join((_PREFIX, kind, _digest(key), currency, str(amount)))
        result = GatewayResult(
            status="pending", amount=amount, currency=currency, reference=reference
        )
        return self._done(operation, started, result)

    def _settle(
        self, operation: str, reference: str, amount: Decimal, currency: str, answer: str
    ) -> GatewayResult:
        started = time.perf_counter()
        amount, currency = check_amount(amount, currency)
        payment = _parse_reference(reference)
        if payment is None:
            result = _unknown(amount, currency)
        elif payment[1] != currency:
            result = GatewayResult(
                status="failure",
                amount=amount,
                currency=currency,
                error_code="currency_mismatch",
                message=f"The payment is in {payment[1]}.",
            )
        elif amount > payment[0]:
            result = GatewayResult(
                status="failure",
                amount=amount,
                currency=currency,
                error_code="invalid_amount",
                message=f"The amount exceeds the payment's {payment[0]}.",
            )
        else:
            result = GatewayResult(
                status="success", amount=amount, currency=currency, reference=answer
            )
        return self._done(operation, started, result)

    def _done(self, operation: str, started: float, result: GatewayResult) -> GatewayResult:
        log_result(self.name, operation, result, duration_ms=(time.perf_counter() - started) * 1000)
        return result


def _unknown(amount: Decimal, currency: str) -> GatewayResult:
    return GatewayResult(
        status="failure",
        amount=amount,
        currency=currency,
        error_code="invalid_reference",
        message="No payment of the manual gateway has this reference.",
    )

"""The test gateway: deterministic answers by card number, for development, tests and benchmarks.

`4242424242424242` approves, `4000000000000002` is declined (card_declined),
`4000000000009995` too (insufficient_funds), `4000000000000069` (expired_card);
`4000000000000119` makes the gateway fail (status error, processing_error); anything else is
refused as incorrect_number. An approving number may carry failures for the later steps of
its payment: `4242424242424242+fail_capture` authorizes, then every capture of it fails with
a processing_error; likewise `+fail_void` and `+fail_refund`, in any combination.
SHOPDB_PAYMENTS_TEST_FAIL fails whole operations for every payment instead.

It keeps no state, so that any number of server processes answer alike: the reference of a
payment spells out its kind, amount, currency and injected failures, and is derived from the
idempotency key, so the same call with the same key returns the same result everywhere. What
needs history (captures adding up to the authorization, refunds to the captures) is the orders
domain's to enforce from its own rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from shopdb.payments.gateways.amounts import check_amount
from shopdb.payments.gateways.base import GatewayResult, GatewayStatus
from shopdb.payments.gateways.logs import log_result

APPROVED_CARD = "4242424242424242"
_REFUSED_CARDS: dict[str, tuple[GatewayStatus, str, str]] = {
    "4000000000000002": ("failure", "card_declined", "The card was declined."),
    "4000000000009995": ("failure", "insufficient_funds", "The card has insufficient funds."),
    "4000000000000069": ("failure", "expired_card", "The card has expired."),
    "4000000000000119": ("error", "processing_error", "The card could not be processed."),
}
# Injected failures, by the letter they take in a reference.
_FAILURE_FLAGS = {"fail_capture": "c", "fail_void": "v", "fail_refund": "r"}
_FLAG_OF_OPERATION = {"capture": "c", "void": "v", "refund": "r"}
_PAST = {"capture": "captured", "void": "voided"}
_PREFIX = "tst"

PaymentKind = Literal["auth", "sale"]


@dataclass(frozen=True)
class _Payment:
    kind: PaymentKind
    amount: Decimal
    currency: str
    flags: str


def _digest(idempotency_key: str) -> str:
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


def _reference(payment: _Payment, idempotency_key: str) -> str:
    return "_".join(
        (
            _PREFIX,
            payment.kind,
            _digest(idempotency_key),
            payment.currency,
            str(payment.amount),
            payment.flags or "-",
        )
    )


def _parse_reference(reference: str) -> _Payment | None:
    parts = reference.split("_")
    if len(parts) != 6 or parts[0] != _PREFIX or parts[1] not in ("auth", "sale"):
        return None
    kind: PaymentKind = "auth" if parts[1] == "auth" else "sale"
    try:
        amount = Decimal(parts[4])
    except InvalidOperation:
        return None
    flags = "" if parts[5] == "-" else parts[5]
    if not amount.is_finite() or amount <= 0 or set(flags) - set(_FAILURE_FLAGS.values()):
        return None
    return _Payment(kind, amount, parts[3], flags)


def _parse_token(token: str) -> tuple[str, str] | None:
    """(card number, failure flags), or None when a suffix is not one we know."""
    number, *suffixes = token.split("+")
    flags = ""
    for suffix in suffixes:
        flag = _FAILURE_FLAGS.get(suffix)
        if flag is None:
            return None
        if flag not in flags:
            flags += flag
    return number, "".join(sorted(flags))


class TestGateway:
    """Deterministic by token; see the module's docstring for the numbers and the injections."""

    __test__ = False  # a class, not a pytest test case, despite its name
    name = "test"
    local = True

    def __init__(self, *, latency_ms: int = 0, fail: Collection[str] = ()) -> None:
        self.latency_seconds = latency_ms / 1000
        self.fail = frozenset(fail)

    async def authorize(
        self, *, amount: Decimal, currency: str, token: str, idempotency_key: str
    ) -> GatewayResult:
        return await self._pay("auth", amount, currency, token, idempotency_key)

    async def sale(
        self, *, amount: Decimal, currency: str, token: str, idempotency_key: str
    ) -> GatewayResult:
        return await self._pay("sale", amount, currency, token, idempotency_key)

    async def capture(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        amount, currency = check_amount(amount, currency)
        started = await self._wait()
        payment = _parse_reference(reference)
        result = self._refusal("capture", payment, amount, currency) or GatewayResult(
            status="success", amount=amount, currency=currency, reference=reference
        )
        return self._done("capture", started, result)

    async def void(self, *, reference: str, idempotency_key: str) -> GatewayResult:
        started = await self._wait()
        payment = _parse_reference(reference)
        result = self._refusal("void", payment, None, None)
        if result is None:
            assert payment is not None
            result = GatewayResult(
                status="success",
                amount=payment.amount,
                currency=payment.currency,
                reference=reference,
            )
        return self._done("void", started, result)

    async def refund(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        amount, currency = check_amount(amount, currency)
        started = await self._wait()
        payment = _parse_reference(reference)
        result = self._refusal("refund", payment, amount, currency) or GatewayResult(
            status="success",
            amount=amount,
            currency=currency,
            reference=f"{_PREFIX}_refund_{_digest(idempotency_key)}",
        )
        return self._done("refund", started, result)

    async def _pay(
        self, kind: PaymentKind, amount: Decimal, currency: str, token: str, key: str
    ) -> GatewayResult:
        amount, currency = check_amount(amount, currency)
        started = await self._wait()
        operation = "authorize" if kind == "auth" else "sale"
        parsed = _parse_token(token)
        number, flags = parsed if parsed is not None else ("", "")
        refused = _REFUSED_CARDS.get(number)
        card = {"card_brand": "visa", "card_last4": number[-4:]}
        if operation in self.fail:
            result = _failed(amount, currency)
        elif number == APPROVED_CARD:
            payment = _Payment(kind, amount, currency, flags)
            result = GatewayResult(
                status="success",
                amount=amount,
                currency=currency,
                reference=_reference(payment, key),
                **card,
            )
        elif refused is not None:
            status, code, message = refused
            result = GatewayResult(
                status=status,
                amount=amount,
                currency=currency,
                error_code=code,
                message=message,
                **card,
            )
        else:
            # Nothing about an unknown token is repeated back: it may be a mistyped card number.
            result = GatewayResult(
                status="failure",
                amount=amount,
                currency=currency,
                error_code="incorrect_number",
                message="The card number is not a test card number.",
            )
        return self._done(operation, started, result)

    def _refusal(
        self,
        operation: str,
        payment: _Payment | None,
        amount: Decimal | None,
        currency: str | None,
    ) -> GatewayResult | None:
        """Why `operation` on `payment` fails, or None when it goes through."""
        answer_amount = amount if amount is not None else Decimal(0)
        answer_currency = currency or (payment.currency if payment else "")
        if payment is None:
            return GatewayResult(
                status="failure",
                amount=answer_amount,
                currency=answer_currency,
                error_code="invalid_reference",
                message="No payment of the test gateway has this reference.",
            )
        if operation in self.fail or _FLAG_OF_OPERATION[operation] in payment.flags:
            return _failed(answer_amount, payment.currency)
        if operation in ("capture", "void") and payment.kind != "auth":
            return GatewayResult(
                status="failure",
                amount=answer_amount,
                currency=payment.currency,
                error_code="invalid_request",
                message=f"Only an authorization is {_PAST[operation]}; this is a sale.",
            )
        if currency is not None and currency != payment.currency:
            return GatewayResult(
                status="failure",
                amount=answer_amount,
                currency=currency,
                error_code="currency_mismatch",
                message=f"The payment is in {payment.currency}.",
            )
        if amount is not None and amount > payment.amount:
            return GatewayResult(
                status="failure",
                amount=amount,
                currency=payment.currency,
                error_code="invalid_amount",
                message=f"The amount exceeds the payment's {payment.amount}.",
            )
        return None

    async def _wait(self) -> float:
        started = time.perf_counter()
        if self.latency_seconds:
            await asyncio.sleep(self.latency_seconds)
        return started

    def _done(self, operation: str, started: float, result: GatewayResult) -> GatewayResult:
        log_result(self.name, operation, result, duration_ms=(time.perf_counter() - started) * 1000)
        return result


def _failed(amount: Decimal, currency: str) -> GatewayResult:
    return GatewayResult(
        status="error",
        amount=amount,
        currency=currency,
        error_code="processing_error",
        message="The test gateway was told to fail this operation.",
    )

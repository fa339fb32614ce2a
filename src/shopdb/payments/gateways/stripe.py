"""The Stripe gateway: PaymentIntents through the official `stripe` package's async client.

authorize creates and confirms a PaymentIntent with `capture_method=manual`; sale confirms one
with automatic capture; capture and void (Stripe's cancel) act on that PaymentIntent, whose id
is the payment's reference (captured once: a partial capture releases the rest); refund
creates a Refund of it. Every request carries the caller's idempotency key, which the client
also reuses when it retries a dropped connection, so a retried call never charges twice.

The token is a PaymentMethod id (`pm_...`, Stripe's test `pm_card_visa`, or the older
`card_...`/`src_...`) or a card token (`tok_...`, Stripe's test `tok_visa`), which first
becomes a PaymentMethod (`card[token]`, under its own idempotency key derived from the
caller's). A raw card number is refused before any request: it must never reach our servers,
let alone Stripe's from them.

The stripe package pins API version 2026-10-28.endive, where the methods a PaymentIntent may
use are named by `allowed_payment_method_types` (`payment_method_types` is refused since
2026-09-30): card only, confirmed here by the server, so no redirect to come back from.
"""

from __future__ import annotations

import logging
import re
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

import stripe

from shopdb.payments.gateways.amounts import currency_code, from_minor_units, to_minor_units
from shopdb.payments.gateways.base import GatewayResult, GatewayStatus
from shopdb.payments.gateways.logs import log_result

if TYPE_CHECKING:
    from stripe.params import PaymentIntentCreateParams

# Stripe's own minor units (https://docs.stripe.com/currencies#special-cases): some differ
# from ISO 4217 (MGA has none at Stripe; ISK is written with two decimals, always 00).
_ZERO_DECIMAL = frozenset(
    (
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
        "VUV", "XAF", "XOF", "XPF",
    )
)  # fmt: skip
_THREE_DECIMAL = frozenset(("BHD", "JOD", "KWD", "OMR", "TND"))

_PAYMENT_METHOD = re.compile(r"(pm|card|src)_[A-Za-z0-9_]{1,200}")
_CARD_TOKEN = re.compile(r"tok_[A-Za-z0-9_]{1,200}")

# Stripe's decline codes and error codes, as ours; any other decline is card_declined.
_DECLINES = {
    "insufficient_funds": "insufficient_funds",
    "expired_card": "expired_card",
    "incorrect_number": "incorrect_number",
    "invalid_number": "incorrect_number",
    "incorrect_cvc": "incorrect_cvc",
    "invalid_cvc": "incorrect_cvc",
    "invalid_expiry_month": "expired_card",
    "invalid_expiry_year": "expired_card",
    "processing_error": "processing_error",
    "authentication_required": "authentication_required",
}
# The misuse that Stripe answers with an invalid request (400/404).
_INVALID_REQUESTS = {
    "resource_missing": "invalid_reference",
    "amount_too_large": "invalid_amount",
    "amount_too_small": "invalid_amount",
    "payment_intent_unexpected_state": "invalid_request",
    "charge_already_refunded": "invalid_request",
}


def stripe_exponent(currency: str) -> int:
    code = currency_code(currency)
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    return 2


class _DropRequestBodies(logging.Filter):
    """The stripe package logs request and response bodies at DEBUG: they name the payment
    method, which is the card's token. Its INFO lines (method, path, status) stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_BODY_FILTER = _DropRequestBodies()


def _silence_bodies() -> None:
    logger = logging.getLogger("stripe")
    if _BODY_FILTER not in logger.filters:
        logger.addFilter(_BODY_FILTER)


def result_of_error(error: stripe.StripeError, amount: Decimal, currency: str) -> GatewayResult:
    """A Stripe exception as our result: declines are failures, the unknown is an error."""
    details = error.error
    message = (details.message if details is not None else None) or error.user_message
    status: GatewayStatus = "error"
    reference = card_brand = card_last4 = None
    if isinstance(error, stripe.CardError):
        decline = details.decline_code if details is not None else None
        code = _DECLINES.get(decline or "") or _DECLINES.get(error.code or "") or "card_declined"
        status = "error" if code == "processing_error" else "failure"
        if details is not None:
            # Stripe's decline comes with the PaymentIntent it left requiring a new method.
            intent = _field(details, "payment_intent")
            reference = _text(_field(intent, "id"))
            card_brand, card_last4 = _card_of(_field(details, "payment_method"))
    elif isinstance(error, stripe.InvalidRequestError):
        status = "failure"
        code = _INVALID_REQUESTS.get(error.code or "", "invalid_request")
        if error.http_status == 404:
            code = "invalid_reference"
    elif isinstance(error, stripe.IdempotencyError):
        code = "idempotency_conflict"
    elif isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        code = "gateway_misconfigured"
    elif isinstance(error, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError):
        code = "gateway_unavailable"
    else:
        code = "gateway_error"
    return GatewayResult(
        status=status,
        amount=amount,
        currency=currency,
        reference=reference,
        error_code=code,
        message=message,
        card_brand=card_brand,
        card_last4=card_last4,
    )


def _field(obj: object, name: str) -> object:
    """A field of a Stripe object, None when absent (localstripe leaves some out)."""
    if isinstance(obj, stripe.StripeObject) and name in obj:
        value: object = obj[name]
        return value
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _card_of(payment_method: object) -> tuple[str | None, str | None]:
    """Brand and last four of an expanded PaymentMethod; (None, None) for an id or nothing."""
    card = _field(payment_method, "card")
    return _text(_field(card, "brand")), _text(_field(card, "last4"))


class StripeGateway:
    name = "stripe"
    local = False

    def __init__(
        self,
        *,
        api_key: str,
        api_base: str | None = None,
        timeout_seconds: float = 30.0,
        max_network_retries: int = 2,
    ) -> None:
        _silence_bodies()
        self._http = stripe.HTTPXClient(timeout=timeout_seconds)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    # `customer`: the Stripe customer a saved payment method belongs to (a subscription's
    # renewal, selling_plans.billing); Stripe charges such a method only with its customer.
    async def authorize(
        self,
        *,
        amount: Decimal,
        currency: str,
        token: str,
        idempotency_key: str,
        customer: str | None = None,
    ) -> GatewayResult:
        return await self._pay("authorize", amount, currency, token, idempotency_key, customer)

    async def sale(
        self,
        *,
        amount: Decimal,
        currency: str,
        token: str,
        idempotency_key: str,
        customer: str | None = None,
    ) -> GatewayResult:
        return await self._pay("sale", amount, currency, token, idempotency_key, customer)

    async def capture(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        code, exponent = currency_code(currency), stripe_exponent(currency)
        units = to_minor_units(amount, exponent)
        started = time.perf_counter()
        try:
            intent = await self._client.v1.payment_intents.capture_async(
                reference,
                {"amount_to_capture": units},
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            result = result_of_error(error, amount, code)
        else:
            result = _settled(intent, amount, code, "succeeded")
        return self._done("capture", started, result)

    async def void(self, *, reference: str, idempotency_key: str) -> GatewayResult:
        started = time.perf_counter()
        try:
            intent = await self._client.v1.payment_intents.cancel_async(
                reference, options={"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as error:
            result = result_of_error(error, Decimal(0), "")
        else:
            code = intent.currency.upper()
            amount = from_minor_units(intent.amount, stripe_exponent(code))
            result = _settled(intent, amount, code, "canceled")
        return self._done("void", started, result)

    async def refund(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        code, exponent = currency_code(currency), stripe_exponent(currency)
        units = to_minor_units(amount, exponent)
        started = time.perf_counter()
        try:
            refund = await self._client.v1.refunds.create_async(
                {"payment_intent": reference, "amount": units},
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            result = result_of_error(error, amount, code)
        else:
            if refund.currency.upper() != code:
                # Stripe refunds in the payment's currency whatever we meant: say it did.
                code = refund.currency.upper()
            status: GatewayStatus = "failure"
            if refund.status == "succeeded":
                status = "success"
            elif refund.status == "pending":
                status = "pending"
            result = GatewayResult(
                status=status,
                amount=from_minor_units(refund.amount, stripe_exponent(code)),
                currency=code,
                reference=refund.id,
                error_code=None if status != "failure" else "refund_failed",
                message=None if status != "failure" else _text(_field(refund, "failure_reason")),
            )
        return self._done("refund", started, result)

    async def _pay(
        self,
        operation: Literal["authorize", "sale"],
        amount: Decimal,
        currency: str,
        token: str,
        idempotency_key: str,
        customer: str | None = None,
    ) -> GatewayResult:
        code, exponent = currency_code(currency), stripe_exponent(currency)
        units = to_minor_units(amount, exponent)
        started = time.perf_counter()
        try:
            method = await self._payment_method(token, idempotency_key)
            if method is None:
                result = GatewayResult(
                    status="failure",
                    amount=amount,
                    currency=code,
                    error_code="invalid_token",
                    message="The payment token is not a Stripe payment method or card token.",
                )
                return self._done(operation, started, result)
            params: PaymentIntentCreateParams = {
                "amount": units,
                "currency": code.lower(),
                "payment_method": method,
                "confirm": True,
                "capture_method": "manual" if operation == "authorize" else "automatic",
                "allowed_payment_method_types": ["card"],
                "expand": ["payment_method"],
            }
            if customer is not None:
                params["customer"] = customer
            intent = await self._client.v1.payment_intents.create_async(
                params, {"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as error:
            result = result_of_error(error, amount, code)
        else:
            result = await self._confirmed(operation, intent, amount, code, idempotency_key)
        return self._done(operation, started, result)

    async def _payment_method(self, token: str, idempotency_key: str) -> str | None:
        """The PaymentMethod id `token` names; None when it is neither a method nor a token."""
        if _PAYMENT_METHOD.fullmatch(token):
            return token
        if not _CARD_TOKEN.fullmatch(token):
            return None
        method = await self._client.v1.payment_methods.create_async(
            {"type": "card", "card": {"token": token}},
            {"idempotency_key": f"{idempotency_key}:payment-method"},
        )
        return method.id

    async def _confirmed(
        self,
        operation: Literal["authorize", "sale"],
        intent: stripe.PaymentIntent,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
    ) -> GatewayResult:
        brand, last4 = _card_of(intent.payment_method)
        done = "requires_capture" if operation == "authorize" else "succeeded"
        status: GatewayStatus
        code = message = None
        if intent.status == done:
            status = "success"
        elif intent.status == "processing":
            status = "pending"
        elif intent.status == "requires_action":
            # 3-D Secure needs the customer, who is not part of a server-side payment. Cancel
            # rather than leave an authorization hanging on the card.
            status, code = "failure", "authentication_required"
            message = "The card requires authentication, which this checkout cannot perform."
            try:
                await self._client.v1.payment_intents.cancel_async(
                    intent.id, options={"idempotency_key": f"{idempotency_key}:cancel"}
                )
            except stripe.StripeError as error:
                logging.getLogger(__name__).warning(
                    "could not cancel PaymentIntent %s awaiting authentication: %s",
                    intent.id,
                    type(error).__name__,
                )
        elif intent.status in ("requires_payment_method", "canceled"):
            status, code = "failure", "card_declined"
            last_error = _field(intent, "last_payment_error")
            message = _text(_field(last_error, "message"))
            decline = _text(_field(last_error, "decline_code")) or _text(_field(last_error, "code"))
            code = _DECLINES.get(decline or "", "card_declined")
        else:
            status, code = "error", "gateway_error"
            message = f"The PaymentIntent is {intent.status} after confirmation."
        return GatewayResult(
            status=status,
            amount=amount,
            currency=currency,
            reference=intent.id,
            error_code=code,
            message=message,
            card_brand=brand,
            card_last4=last4,
        )

    def _done(self, operation: str, started: float, result: GatewayResult) -> GatewayResult:
        log_result(self.name, operation, result, duration_ms=(time.perf_counter() - started) * 1000)
        return result


def _settled(
    intent: stripe.PaymentIntent, amount: Decimal, currency: str, expected: str
) -> GatewayResult:
    if intent.status == expected:
        return GatewayResult(
            status="success", amount=amount, currency=currency, reference=intent.id
        )
    return GatewayResult(
        status="failure",
        amount=amount,
        currency=currency,
        reference=intent.id,
        error_code="invalid_request",
        message=f"The PaymentIntent is {intent.status}, not {expected}.",
    )

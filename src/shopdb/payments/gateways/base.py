"""What every payment gateway offers the orders domain: authorize, capture, sale, void, refund.

A gateway is called outside any database transaction that holds row locks, so it never keeps
stock or a gift card locked while the network is slow. Each call carries an idempotency key,
derived by the caller from the order and the operation, so a retried request never charges
twice. Only the card's brand and last four digits ever leave a gateway; a token or a card
number is never stored or logged.

A call answers with a GatewayResult, never an exception, for everything the gateway can say
(a decline, an unknown reference, an unreachable network). It raises ValueError only for the
caller's own mistakes: an amount that is not positive or is finer than the currency's minor
unit, or a currency that is not three letters.

`reference` by operation: authorize and sale return the payment's id; capture and void return
that same id (refunds name it); a refund returns the refund's own id. The amount rules of
Shopify's transactions (captures of an authorization add up to at most its amount, refunds to
at most what was captured, only an uncaptured authorization is voided) are enforced by the
orders domain from its own rows; Stripe enforces them again, the test gateway checks only that
one call stays within the payment's amount (it keeps no state, so that every server process
answers alike). Stripe captures an authorization once: a partial capture releases the rest, so
with Stripe a second capture of the same authorization fails (invalid_request).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

# As Shopify's transaction statuses: `pending` (manual payments, waiting for the money),
# `success`, `failure` (the gateway said no: a decline), `error` (it could not answer).
GatewayStatus = Literal["pending", "success", "failure", "error"]


@dataclass(frozen=True)
class GatewayResult:
    status: GatewayStatus
    amount: Decimal
    currency: str
    # The gateway's id of the payment (an authorization's, to capture, void or refund it later).
    reference: str | None = None
    # Ours, stable across gateways; None on success. Declines (status failure): card_declined,
    # insufficient_funds, expired_card, incorrect_number, incorrect_cvc, authentication_required
    # (the card wants 3-D Secure, which a server-side payment cannot complete), invalid_token.
    # Misuse (failure): invalid_reference, invalid_amount, currency_mismatch, invalid_request
    # (e.g. voiding a captured payment), refund_failed. Status error, nothing was decided or
    # the outcome is unknown (retry with the same idempotency key): processing_error,
    # gateway_unavailable, gateway_misconfigured, idempotency_conflict (the key was used for
    # another call), gateway_error.
    error_code: str | None = None
    message: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "success"


class PaymentGateway(Protocol):
    name: str
    # True when a call has no effect outside this process (nothing is charged or held
    # anywhere: the test and manual gateways). An order may then be paid inside the very
    # transaction that writes it, and a rollback leaves nothing to undo at the gateway
    # (orders.placement). A remote gateway (Stripe) is called between transactions instead.
    local: bool

    async def authorize(
        self, *, amount: Decimal, currency: str, token: str, idempotency_key: str
    ) -> GatewayResult: ...

    async def capture(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult: ...

    async def sale(
        self, *, amount: Decimal, currency: str, token: str, idempotency_key: str
    ) -> GatewayResult: ...

    async def void(self, *, reference: str, idempotency_key: str) -> GatewayResult: ...

    async def refund(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult: ...

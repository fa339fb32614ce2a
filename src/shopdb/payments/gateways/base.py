"""What every payment gateway offers the orders domain: authorize, capture, sale, void, refund.

A gateway is called outside any database transaction that holds row locks, so it never keeps
stock or a gift card locked while the network is slow. Each call carries an idempotency key,
derived by the caller from the order and the operation, so a retried request never charges
twice. Only the card's brand and last four digits ever leave a gateway; a token or a card
number is never stored or logged.
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
    # Ours, stable across gateways: card_declined, insufficient_funds, expired_card,
    # incorrect_number, processing_error, gateway_unavailable, ...; None on success.
    error_code: str | None = None
    message: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "success"


class PaymentGateway(Protocol):
    name: str

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

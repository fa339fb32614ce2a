"""The manual gateway: pending until the money is recorded as received."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shopdb.payments.gateways.manual import ManualGateway

AMOUNT = Decimal("80.00")


class TestManualGateway:
    @pytest.mark.parametrize("operation", ["authorize", "sale"])
    async def test_payment_is_pending_without_a_card(self, operation: str) -> None:
        gateway = ManualGateway()

        pay = gateway.authorize if operation == "authorize" else gateway.sale
        result = await pay(amount=AMOUNT, currency="eur", token="", idempotency_key="o1:pay")

        assert (result.status, result.amount, result.currency) == ("pending", AMOUNT, "EUR")
        assert not result.succeeded
        assert (result.card_brand, result.card_last4, result.error_code) == (None, None, None)
        assert result.reference is not None
        assert result.reference.startswith("man_")

    async def test_capture_records_the_money_as_received(self) -> None:
        gateway = ManualGateway()
        payment = await gateway.authorize(
            amount=AMOUNT, currency="EUR", token="", idempotency_key="o1:pay"
        )
        assert payment.reference is not None

        result = await gateway.capture(
            reference=payment.reference, amount=AMOUNT, currency="EUR", idempotency_key="o1:cap"
        )

        assert (result.status, result.amount, result.reference) == (
            "success",
            AMOUNT,
            payment.reference,
        )

    async def test_void_and_refund_succeed(self) -> None:
        gateway = ManualGateway()
        payment = await gateway.sale(amount=AMOUNT, currency="EUR", token="", idempotency_key="s")
        assert payment.reference is not None

        void = await gateway.void(reference=payment.reference, idempotency_key="v")
        refund = await gateway.refund(
            reference=payment.reference,
            amount=Decimal("30.00"),
            currency="EUR",
            idempotency_key="r",
        )

        assert (void.status, void.amount, void.currency) == ("success", AMOUNT, "EUR")
        assert (refund.status, refund.amount) == ("success", Decimal("30.00"))
        assert refund.reference is not None
        assert refund.reference.startswith("man_refund_")

    async def test_refuses_more_than_the_payment_another_currency_or_an_unknown_one(self) -> None:
        gateway = ManualGateway()
        payment = await gateway.authorize(
            amount=AMOUNT, currency="EUR", token="", idempotency_key="o1:pay"
        )
        assert payment.reference is not None

        above = await gateway.capture(
            reference=payment.reference,
            amount=Decimal("80.01"),
            currency="EUR",
            idempotency_key="a",
        )
        dollars = await gateway.refund(
            reference=payment.reference, amount=Decimal("1.00"), currency="USD", idempotency_key="b"
        )
        unknown = await gateway.void(reference="tst_auth_x_EUR_1.00_-", idempotency_key="c")

        assert (above.status, above.error_code) == ("failure", "invalid_amount")
        assert (dollars.status, dollars.error_code) == ("failure", "currency_mismatch")
        assert (unknown.status, unknown.error_code) == ("failure", "invalid_reference")

    async def test_the_same_key_gives_the_same_reference_in_every_process(self) -> None:
        first = await ManualGateway().authorize(
            amount=AMOUNT, currency="EUR", token="", idempotency_key="o9:pay"
        )
        retried = await ManualGateway().authorize(
            amount=AMOUNT, currency="EUR", token="", idempotency_key="o9:pay"
        )
        other = await ManualGateway().authorize(
            amount=AMOUNT, currency="EUR", token="", idempotency_key="o10:pay"
        )

        assert first == retried
        assert other.reference != first.reference

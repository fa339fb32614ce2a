"""The test gateway: deterministic by card number, stateless, with injectable failures."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from shopdb.payments.gateways.base import GatewayResult
from shopdb.payments.gateways.test import TestGateway

APPROVE = "4242424242424242"
AMOUNT = Decimal("25.00")


async def authorize(
    gateway: TestGateway, token: str = APPROVE, key: str = "order-1:authorize"
) -> GatewayResult:
    return await gateway.authorize(amount=AMOUNT, currency="USD", token=token, idempotency_key=key)


class TestCardNumbers:
    async def test_approves_4242_with_brand_and_last_four(self) -> None:
        result = await authorize(TestGateway())

        assert result.status == "success"
        assert result.succeeded
        assert (result.amount, result.currency) == (AMOUNT, "USD")
        assert (result.card_brand, result.card_last4) == ("visa", "4242")
        assert result.error_code is None
        assert result.reference is not None
        assert result.reference.startswith("tst_auth_")
        assert APPROVE not in result.reference

    @pytest.mark.parametrize(
        ("token", "status", "code", "last4"),
        [
            ("4000000000000002", "failure", "card_declined", "0002"),
            ("4000000000009995", "failure", "insufficient_funds", "9995"),
            ("4000000000000069", "failure", "expired_card", "0069"),
            ("4000000000000119", "error", "processing_error", "0119"),
        ],
    )
    async def test_refuses_the_refusing_numbers(
        self, token: str, status: str, code: str, last4: str
    ) -> None:
        result = await authorize(TestGateway(), token)

        assert (result.status, result.error_code) == (status, code)
        assert (result.card_brand, result.card_last4) == ("visa", last4)
        assert result.reference is None
        assert not result.succeeded

    @pytest.mark.parametrize("token", ["4111111111111111", "", "tok_visa", f"{APPROVE}+fly"])
    async def test_any_other_token_is_an_incorrect_number_and_not_echoed(self, token: str) -> None:
        result = await authorize(TestGateway(), token)

        assert (result.status, result.error_code) == ("failure", "incorrect_number")
        assert (result.card_brand, result.card_last4, result.reference) == (None, None, None)

    async def test_sale_is_a_captured_payment(self) -> None:
        result = await TestGateway().sale(
            amount=AMOUNT, currency="usd", token=APPROVE, idempotency_key="order-1:sale"
        )

        assert result.status == "success"
        assert result.currency == "USD"
        assert result.reference is not None
        assert result.reference.startswith("tst_sale_")


class TestCapture:
    async def test_partial_then_remaining_capture_each_succeed(self) -> None:
        gateway = TestGateway()
        reference = (await authorize(gateway)).reference
        assert reference is not None

        first = await gateway.capture(
            reference=reference, amount=Decimal("10.00"), currency="USD", idempotency_key="c1"
        )
        rest = await gateway.capture(
            reference=reference, amount=Decimal("15.00"), currency="USD", idempotency_key="c2"
        )

        assert (first.status, first.amount, first.reference) == (
            "success",
            Decimal("10.00"),
            reference,
        )
        assert (rest.status, rest.amount, rest.reference) == (
            "success",
            Decimal("15.00"),
            reference,
        )

    async def test_never_above_the_authorized_amount(self) -> None:
        gateway = TestGateway()
        reference = (await authorize(gateway)).reference
        assert reference is not None

        result = await gateway.capture(
            reference=reference, amount=Decimal("25.01"), currency="USD", idempotency_key="c1"
        )

        assert (result.status, result.error_code) == ("failure", "invalid_amount")

    async def test_in_another_currency_is_refused(self) -> None:
        gateway = TestGateway()
        reference = (await authorize(gateway)).reference
        assert reference is not None

        result = await gateway.capture(
            reference=reference, amount=Decimal("5.00"), currency="EUR", idempotency_key="c1"
        )

        assert (result.status, result.error_code) == ("failure", "currency_mismatch")

    async def test_a_sale_is_not_captured(self) -> None:
        gateway = TestGateway()
        sale = await gateway.sale(amount=AMOUNT, currency="USD", token=APPROVE, idempotency_key="s")
        assert sale.reference is not None

        result = await gateway.capture(
            reference=sale.reference, amount=AMOUNT, currency="USD", idempotency_key="c1"
        )

        assert (result.status, result.error_code) == ("failure", "invalid_request")

    @pytest.mark.parametrize(
        "reference",
        ["", "pi_123", "tst_auth_x_USD_abc_-", "tst_auth_x_USD_-5_-", "tst_auth_x_USD_5_q"],
    )
    async def test_an_unknown_reference_is_refused(self, reference: str) -> None:
        result = await TestGateway().capture(
            reference=reference, amount=Decimal("1.00"), currency="USD", idempotency_key="c1"
        )

        assert (result.status, result.error_code) == ("failure", "invalid_reference")


class TestVoidAndRefund:
    async def test_void_answers_the_authorization_amount(self) -> None:
        gateway = TestGateway()
        reference = (await authorize(gateway)).reference
        assert reference is not None

        result = await gateway.void(reference=reference, idempotency_key="v1")

        assert (result.status, result.amount, result.currency) == ("success", AMOUNT, "USD")
        assert result.reference == reference

    async def test_a_sale_is_not_voided(self) -> None:
        gateway = TestGateway()
        sale = await gateway.sale(amount=AMOUNT, currency="USD", token=APPROVE, idempotency_key="s")
        assert sale.reference is not None

        result = await gateway.void(reference=sale.reference, idempotency_key="v1")

        assert (result.status, result.error_code) == ("failure", "invalid_request")

    async def test_refund_within_the_payment_gets_its_own_reference(self) -> None:
        gateway = TestGateway()
        sale = await gateway.sale(amount=AMOUNT, currency="USD", token=APPROVE, idempotency_key="s")
        assert sale.reference is not None

        result = await gateway.refund(
            reference=sale.reference, amount=Decimal("10.00"), currency="USD", idempotency_key="r1"
        )
        too_much = await gateway.refund(
            reference=sale.reference, amount=Decimal("25.50"), currency="USD", idempotency_key="r2"
        )

        assert (result.status, result.amount) == ("success", Decimal("10.00"))
        assert result.reference is not None
        assert result.reference.startswith("tst_refund_")
        assert result.reference != sale.reference
        assert (too_much.status, too_much.error_code) == ("failure", "invalid_amount")


class TestIdempotency:
    async def test_same_key_same_result_in_another_process(self) -> None:
        """Two gateways stand for two server processes: no state is shared between them."""
        first = await authorize(TestGateway(), key="order-7:authorize")
        retried = await authorize(TestGateway(), key="order-7:authorize")
        other = await authorize(TestGateway(), key="order-8:authorize")

        assert first == retried
        assert other.reference != first.reference

    async def test_a_retried_capture_and_refund_answer_alike(self) -> None:
        one, two = TestGateway(), TestGateway()
        reference = (await authorize(one)).reference
        assert reference is not None

        captures = [
            await g.capture(reference=reference, amount=AMOUNT, currency="USD", idempotency_key="c")
            for g in (one, two)
        ]
        refunds = [
            await g.refund(reference=reference, amount=AMOUNT, currency="USD", idempotency_key="r")
            for g in (one, two)
        ]

        assert captures[0] == captures[1]
        assert refunds[0] == refunds[1]


class TestInjectedFailures:
    @pytest.mark.parametrize(
        ("suffix", "failing"),
        [
            ("+fail_capture", {"capture"}),
            ("+fail_void", {"void"}),
            ("+fail_refund", {"refund"}),
            ("+fail_void+fail_capture", {"capture", "void"}),
        ],
    )
    async def test_a_token_suffix_fails_the_later_steps_of_its_payment(
        self, suffix: str, failing: set[str]
    ) -> None:
        gateway = TestGateway()
        authorization = await authorize(gateway, APPROVE + suffix)
        assert authorization.status == "success"
        assert authorization.card_last4 == "4242"
        reference = authorization.reference
        assert reference is not None

        outcomes = {
            "capture": await gateway.capture(
                reference=reference, amount=AMOUNT, currency="USD", idempotency_key="c"
            ),
            "void": await gateway.void(reference=reference, idempotency_key="v"),
            "refund": await gateway.refund(
                reference=reference, amount=AMOUNT, currency="USD", idempotency_key="r"
            ),
        }

        for operation, result in outcomes.items():
            if operation in failing:
                assert (result.status, result.error_code) == ("error", "processing_error")
            else:
                assert result.status == "success", operation

    async def test_the_setting_fails_an_operation_for_every_payment(self) -> None:
        gateway = TestGateway(fail=["capture", "authorize"])
        healthy = TestGateway()
        reference = (await authorize(healthy)).reference
        assert reference is not None

        authorization = await authorize(gateway)
        capture = await gateway.capture(
            reference=reference, amount=AMOUNT, currency="USD", idempotency_key="c"
        )
        void = await gateway.void(reference=reference, idempotency_key="v")

        assert (authorization.status, authorization.error_code) == ("error", "processing_error")
        assert authorization.reference is None
        assert (capture.status, capture.error_code) == ("error", "processing_error")
        assert void.status == "success"


class TestLatencyAndAmounts:
    async def test_simulated_latency_delays_each_answer(self) -> None:
        gateway = TestGateway(latency_ms=60)

        started = time.perf_counter()
        result = await authorize(gateway)
        elapsed = time.perf_counter() - started

        assert result.status == "success"
        assert elapsed >= 0.06

    @pytest.mark.parametrize(
        ("amount", "currency"),
        [
            (Decimal("0"), "USD"),
            (Decimal("-1.00"), "USD"),
            (Decimal("10.001"), "USD"),
            (Decimal("100.5"), "JPY"),
            (Decimal("NaN"), "USD"),
            (Decimal("1.00"), "US"),
            (Decimal("1.00"), "US1"),
        ],
    )
    async def test_an_amount_the_currency_cannot_hold_is_the_callers_bug(
        self, amount: Decimal, currency: str
    ) -> None:
        with pytest.raises(ValueError, match=r"amount|currency"):
            await TestGateway().authorize(
                amount=amount, currency=currency, token=APPROVE, idempotency_key="k"
            )

    async def test_three_decimal_and_zero_decimal_currencies(self) -> None:
        gateway = TestGateway()

        dinar = await gateway.authorize(
            amount=Decimal("1.125"), currency="KWD", token=APPROVE, idempotency_key="kwd"
        )
        yen = await gateway.authorize(
            amount=Decimal("1500"), currency="JPY", token=APPROVE, idempotency_key="jpy"
        )

        assert (dinar.status, dinar.amount, dinar.currency) == ("success", Decimal("1.125"), "KWD")
        assert (yen.status, yen.amount, yen.currency) == ("success", Decimal("1500"), "JPY")

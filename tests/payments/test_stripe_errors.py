"""Stripe's exceptions as our results: declines are failures, the unknown is an error."""

from __future__ import annotations

from decimal import Decimal

import pytest
import stripe

from shopdb.payments.gateways.stripe import result_of_error, stripe_exponent

AMOUNT = Decimal("9.99")


def card_error(code: str, decline_code: str | None = None) -> stripe.CardError:
    body = {
        "error": {
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": "Your card was declined.",
            "payment_intent": {"id": "pi_123", "object": "payment_intent"},
            "payment_method": {
                "id": "pm_123",
                "object": "payment_method",
                "card": {"brand": "mastercard", "last4": "4444"},
            },
        }
    }
    return stripe.CardError(  # type: ignore[no-untyped-call]
        "Your card was declined.", None, code, http_status=402, json_body=body
    )


class TestCardErrors:
    @pytest.mark.parametrize(
        ("code", "decline_code", "status", "ours"),
        [
            ("card_declined", "generic_decline", "failure", "card_declined"),
            ("card_declined", "insufficient_funds", "failure", "insufficient_funds"),
            ("card_declined", "fraudulent", "failure", "card_declined"),
            ("expired_card", None, "failure", "expired_card"),
            ("incorrect_number", None, "failure", "incorrect_number"),
            ("incorrect_cvc", None, "failure", "incorrect_cvc"),
            ("authentication_required", None, "failure", "authentication_required"),
            ("processing_error", None, "error", "processing_error"),
        ],
    )
    def test_decline_codes_become_ours(
        self, code: str, decline_code: str | None, status: str, ours: str
    ) -> None:
        result = result_of_error(card_error(code, decline_code), AMOUNT, "USD")

        assert (result.status, result.error_code) == (status, ours)
        assert (result.amount, result.currency) == (AMOUNT, "USD")
        assert result.reference == "pi_123"
        assert (result.card_brand, result.card_last4) == ("mastercard", "4444")
        assert result.message == "Your card was declined."


def invalid(code: str) -> stripe.InvalidRequestError:
    return stripe.InvalidRequestError(  # type: ignore[no-untyped-call]
        "Invalid request", None, code, http_status=400
    )


class TestOtherErrors:
    @pytest.mark.parametrize(
        ("error", "status", "ours"),
        [
            (invalid("resource_missing"), "failure", "invalid_reference"),
            (invalid("amount_too_large"), "failure", "invalid_amount"),
            (invalid("charge_expired_for_capture"), "failure", "invalid_request"),
            (stripe.IdempotencyError("reused"), "error", "idempotency_conflict"),
            (stripe.AuthenticationError("bad key"), "error", "gateway_misconfigured"),
            (stripe.PermissionError("restricted key"), "error", "gateway_misconfigured"),
            (stripe.APIConnectionError("reset"), "error", "gateway_unavailable"),  # type: ignore[no-untyped-call]
            (stripe.RateLimitError("slow down"), "error", "gateway_unavailable"),
            (stripe.APIError("500"), "error", "gateway_unavailable"),
            (stripe.SignatureVerificationError("sig", "header"), "error", "gateway_error"),  # type: ignore[no-untyped-call]
        ],
    )  # fmt: skip
    def test_maps_to_a_stable_code(self, error: stripe.StripeError, status: str, ours: str) -> None:
        result = result_of_error(error, AMOUNT, "USD")

        assert (result.status, result.error_code) == (status, ours)
        assert result.reference is None


@pytest.mark.parametrize(
    ("currency", "exponent"), [("usd", 2), ("JPY", 0), ("MGA", 0), ("KWD", 3), ("ISK", 2)]
)
def test_stripe_minor_units(currency: str, exponent: int) -> None:
    assert stripe_exponent(currency) == exponent

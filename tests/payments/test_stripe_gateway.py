"""The Stripe gateway against localstripe, a real process on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import socket
import uuid
from decimal import Decimal

import httpx
import pytest

from shopdb.payments.gateways.stripe import StripeGateway
from tests.payments.conftest import API_KEY, posts_received

# The stripe package hands httpx its encoded form as `data=`, which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

AMOUNT = Decimal("25.00")


def key(step: str) -> str:
    """A fresh idempotency key: localstripe lives for the whole run."""
    return f"{uuid.uuid4()}:{step}"


async def stripe_get(url: str, path: str, **params: str) -> dict[str, object]:
    """What localstripe holds, read directly rather than through the gateway under test."""
    async with httpx.AsyncClient(auth=(API_KEY, ""), timeout=5.0) as http:
        answer = await http.get(f"{url}{path}", params=params)
    answer.raise_for_status()
    body: dict[str, object] = answer.json()
    return body


class TestAuthorizeCaptureRefund:
    async def test_authorize_capture_part_then_refund_part(
        self, stripe_gateway: StripeGateway, localstripe_url: str
    ) -> None:
        authorization = await stripe_gateway.authorize(
            amount=AMOUNT, currency="USD", token="pm_card_visa", idempotency_key=key("auth")
        )
        assert (authorization.status, authorization.amount, authorization.currency) == (
            "success",
            AMOUNT,
            "USD",
        )
        assert (authorization.card_brand, authorization.card_last4) == ("visa", "4242")
        reference = authorization.reference
        assert reference is not None
        assert reference.startswith("pi_")
        intent = await stripe_get(localstripe_url, f"/v1/payment_intents/{reference}")
        assert (intent["status"], intent["amount"], intent["capture_method"]) == (
            "requires_capture",
            2500,
            "manual",
        )

        capture = await stripe_gateway.capture(
            reference=reference, amount=Decimal("10.00"), currency="USD", idempotency_key=key("c")
        )
        assert (capture.status, capture.amount, capture.reference) == (
            "success",
            Decimal("10.00"),
            reference,
        )
        captured = await stripe_get(localstripe_url, f"/v1/payment_intents/{reference}")
        assert captured["status"] == "succeeded"
        # Stripe captures once; the 15.00 left was released by the partial capture.
        again = await stripe_gateway.capture(
            reference=reference, amount=Decimal("5.00"), currency="USD", idempotency_key=key("c2")
        )
        assert (again.status, again.error_code) == ("failure", "invalid_request")

        refund = await stripe_gateway.refund(
            reference=reference, amount=Decimal("4.00"), currency="USD", idempotency_key=key("r")
        )
        assert (refund.status, refund.amount, refund.currency) == (
            "success",
            Decimal("4.00"),
            "USD",
        )
        assert refund.reference is not None
        assert refund.reference.startswith("re_")
        refunds = await stripe_get(localstripe_url, "/v1/refunds", payment_intent=reference)
        assert isinstance(refunds["data"], list)
        ours = [r for r in refunds["data"] if r["id"] == refund.reference]
        assert [(r["amount"], r["status"]) for r in ours] == [(400, "succeeded")]

    async def test_sale_captures_at_once(
        self, stripe_gateway: StripeGateway, localstripe_url: str
    ) -> None:
        sale = await stripe_gateway.sale(
            amount=Decimal("12.34"), currency="eur", token="pm_card_visa", idempotency_key=key("s")
        )

        assert (sale.status, sale.amount, sale.currency) == ("success", Decimal("12.34"), "EUR")
        assert sale.reference is not None
        intent = await stripe_get(localstripe_url, f"/v1/payment_intents/{sale.reference}")
        assert (intent["status"], intent["amount"], intent["currency"]) == (
            "succeeded",
            1234,
            "eur",
        )

    async def test_zero_decimal_currency_is_sent_in_whole_units(
        self, stripe_gateway: StripeGateway, localstripe_url: str
    ) -> None:
        sale = await stripe_gateway.sale(
            amount=Decimal("1500"), currency="JPY", token="pm_card_visa", idempotency_key=key("y")
        )

        assert sale.status == "success"
        assert sale.reference is not None
        intent = await stripe_get(localstripe_url, f"/v1/payment_intents/{sale.reference}")
        assert (intent["amount"], intent["currency"]) == (1500, "jpy")

    async def test_card_token_becomes_a_payment_method_first(
        self, stripe_gateway: StripeGateway, localstripe_url: str
    ) -> None:
        idempotency_key = key("auth")

        result = await stripe_gateway.authorize(
            amount=AMOUNT, currency="USD", token="tok_visa", idempotency_key=idempotency_key
        )

        assert result.status == "success"
        assert (result.card_brand, result.card_last4) == ("visa", "4242")
        posts = await posts_received(localstripe_url)
        assert {
            "path": "/v1/payment_methods",
            "idempotencyKey": f"{idempotency_key}:payment-method",
        } in posts


class TestVoid:
    async def test_authorize_then_void(
        self, stripe_gateway: StripeGateway, localstripe_url: str
    ) -> None:
        authorization = await stripe_gateway.authorize(
            amount=AMOUNT, currency="USD", token="pm_card_visa", idempotency_key=key("auth")
        )
        assert authorization.reference is not None

        void = await stripe_gateway.void(
            reference=authorization.reference, idempotency_key=key("void")
        )

        assert (void.status, void.amount, void.currency, void.reference) == (
            "success",
            AMOUNT,
            "USD",
            authorization.reference,
        )
        intent = await stripe_get(localstripe_url, f"/v1/payment_intents/{authorization.reference}")
        assert intent["status"] == "canceled"

    async def test_voiding_twice_is_an_invalid_request(self, stripe_gateway: StripeGateway) -> None:
        authorization = await stripe_gateway.authorize(
            amount=AMOUNT, currency="USD", token="pm_card_visa", idempotency_key=key("auth")
        )
        assert authorization.reference is not None
        await stripe_gateway.void(reference=authorization.reference, idempotency_key=key("v1"))

        again = await stripe_gateway.void(
            reference=authorization.reference, idempotency_key=key("v2")
        )

        assert (again.status, again.error_code) == ("failure", "invalid_request")

    async def test_an_unknown_payment_intent_is_an_invalid_reference(
        self, stripe_gateway: StripeGateway
    ) -> None:
        result = await stripe_gateway.capture(
            reference="pi_doesnotexist", amount=AMOUNT, currency="USD", idempotency_key=key("c")
        )

        assert (result.status, result.error_code) == ("failure", "invalid_reference")


class TestDeclinesAndErrors:
    async def test_a_declined_card_is_a_failure_not_an_exception(
        self, stripe_gateway: StripeGateway
    ) -> None:
        # localstripe declines at charge time only the cards of Stripe's "charge customer fail"
        # family (pm_card_chargeCustomerFail, 4000000000000341).
        result = await stripe_gateway.authorize(
            amount=AMOUNT,
            currency="USD",
            token="pm_card_chargeCustomerFail",
            idempotency_key=key("auth"),
        )

        assert (result.status, result.error_code) == ("failure", "card_declined")
        assert result.message == "Your card was declined."
        assert not result.succeeded

    async def test_a_card_wanting_3d_secure_is_refused_and_its_intent_cancelled(
        self, stripe_gateway: StripeGateway, localstripe_url: str
    ) -> None:
        card = {"number": "4000002500003155", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
        async with httpx.AsyncClient(auth=(API_KEY, ""), timeout=5.0) as http:
            created = await http.post(
                f"{localstripe_url}/v1/payment_methods",
                data={"type": "card", **{f"card[{k}]": v for k, v in card.items()}},
            )
        created.raise_for_status()

        result = await stripe_gateway.authorize(
            amount=AMOUNT, currency="USD", token=created.json()["id"], idempotency_key=key("a")
        )

        assert (result.status, result.error_code) == ("failure", "authentication_required")
        assert (result.card_brand, result.card_last4) == ("visa", "3155")
        assert result.reference is not None
        intent = await stripe_get(localstripe_url, f"/v1/payment_intents/{result.reference}")
        assert intent["status"] == "canceled"

    async def test_a_raw_card_number_is_refused_before_any_request(
        self, stripe_gateway: StripeGateway, localstripe_url: str
    ) -> None:
        before = len(await posts_received(localstripe_url))

        result = await stripe_gateway.authorize(
            amount=AMOUNT, currency="USD", token="4242424242424242", idempotency_key=key("a")
        )

        assert (result.status, result.error_code) == ("failure", "invalid_token")
        assert len(await posts_received(localstripe_url)) == before

    async def test_an_unreachable_stripe_is_gateway_unavailable(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        gateway = StripeGateway(
            api_key=API_KEY, api_base=f"http://127.0.0.1:{closed_port}", max_network_retries=0
        )
        try:
            result = await gateway.authorize(
                amount=AMOUNT, currency="USD", token="pm_card_visa", idempotency_key=key("a")
            )
        finally:
            await gateway.aclose()

        assert (result.status, result.error_code) == ("error", "gateway_unavailable")
        assert result.reference is None

    async def test_a_rejected_api_key_is_gateway_misconfigured(self, localstripe_url: str) -> None:
        gateway = StripeGateway(api_key="not-a-key", api_base=localstripe_url)
        try:
            result = await gateway.sale(
                amount=AMOUNT, currency="USD", token="pm_card_visa", idempotency_key=key("s")
            )
        finally:
            await gateway.aclose()

        assert (result.status, result.error_code) == ("error", "gateway_misconfigured")


class TestIdempotency:
    async def test_a_retried_authorization_returns_the_same_payment_intent(
        self, stripe_gateway: StripeGateway, localstripe_url: str
    ) -> None:
        idempotency_key = key("auth")
        # localstripe's lists count everything, past any page (Stripe's own have no total).
        before = (await stripe_get(localstripe_url, "/v1/payment_intents"))["total_count"]
        assert isinstance(before, int)

        first = await stripe_gateway.authorize(
            amount=AMOUNT, currency="USD", token="pm_card_visa", idempotency_key=idempotency_key
        )
        retried = await stripe_gateway.authorize(
            amount=AMOUNT, currency="USD", token="pm_card_visa", idempotency_key=idempotency_key
        )

        assert first.status == "success"
        assert retried == first
        after = (await stripe_get(localstripe_url, "/v1/payment_intents"))["total_count"]
        assert after == before + 1

    async def test_the_same_key_for_another_amount_is_an_idempotency_conflict(
        self, stripe_gateway: StripeGateway
    ) -> None:
        idempotency_key = key("auth")
        await stripe_gateway.authorize(
            amount=AMOUNT, currency="USD", token="pm_card_visa", idempotency_key=idempotency_key
        )

        other = await stripe_gateway.authorize(
            amount=Decimal("26.00"),
            currency="USD",
            token="pm_card_visa",
            idempotency_key=idempotency_key,
        )

        assert (other.status, other.error_code) == ("error", "idempotency_conflict")

    async def test_every_request_carries_the_callers_key(
        self, stripe_gateway: StripeGateway, localstripe_url: str
    ) -> None:
        before = len(await posts_received(localstripe_url))
        keys = [key("auth"), key("capture"), key("refund"), key("auth2"), key("void")]

        authorization = await stripe_gateway.authorize(
            amount=AMOUNT, currency="USD", token="pm_card_visa", idempotency_key=keys[0]
        )
        assert authorization.reference is not None
        await stripe_gateway.capture(
            reference=authorization.reference,
            amount=AMOUNT,
            currency="USD",
            idempotency_key=keys[1],
        )
        await stripe_gateway.refund(
            reference=authorization.reference,
            amount=AMOUNT,
            currency="USD",
            idempotency_key=keys[2],
        )
        second = await stripe_gateway.authorize(
            amount=AMOUNT, currency="USD", token="pm_card_visa", idempotency_key=keys[3]
        )
        assert second.reference is not None
        await stripe_gateway.void(reference=second.reference, idempotency_key=keys[4])

        posts = (await posts_received(localstripe_url))[before:]
        assert posts == [
            {"path": "/v1/payment_intents", "idempotencyKey": keys[0]},
            {
                "path": f"/v1/payment_intents/{authorization.reference}/capture",
                "idempotencyKey": keys[1],
            },
            {"path": "/v1/refunds", "idempotencyKey": keys[2]},
            {"path": "/v1/payment_intents", "idempotencyKey": keys[3]},
            {"path": f"/v1/payment_intents/{second.reference}/cancel", "idempotencyKey": keys[4]},
        ]


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("1.001")])
async def test_an_amount_finer_than_stripe_takes_is_the_callers_bug(
    stripe_gateway: StripeGateway, amount: Decimal
) -> None:
    with pytest.raises(ValueError, match="amount"):
        await stripe_gateway.sale(
            amount=amount, currency="USD", token="pm_card_visa", idempotency_key=key("s")
        )

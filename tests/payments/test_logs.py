"""Only a card's brand and last four are logged, whatever the gateway and the outcome."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

import pytest
import structlog

from shopdb.payments.gateways.manual import ManualGateway
from shopdb.payments.gateways.stripe import StripeGateway
from shopdb.payments.gateways.test import TestGateway

# The stripe package hands httpx its encoded form as `data=`, which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

AMOUNT = Decimal("25.00")
TOKENS = [
    "pm_card_visa",
    "tok_visa",
    "pm_card_chargeCustomerFail",
    "4242424242424242",
    "4000000000000002",
    "4111111111111111",
]


async def test_no_token_reaches_any_log(
    stripe_gateway: StripeGateway,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    test, manual = TestGateway(), ManualGateway()
    with structlog.testing.capture_logs() as events:
        for token in ("pm_card_visa", "tok_visa", "pm_card_chargeCustomerFail", "4242424242424242"):
            await stripe_gateway.authorize(
                amount=AMOUNT, currency="USD", token=token, idempotency_key=str(uuid.uuid4())
            )
        for token in ("4242424242424242", "4000000000000002", "4111111111111111"):
            await test.authorize(
                amount=AMOUNT, currency="USD", token=token, idempotency_key=str(uuid.uuid4())
            )
        await manual.sale(amount=AMOUNT, currency="USD", token="", idempotency_key="m")
    output = capfd.readouterr()
    logged = "\n".join((caplog.text, repr(events), output.out, output.err))

    for token in TOKENS:
        assert token not in logged

    calls = [
        (e["gateway"], e["operation"], e["status"], e["card_brand"], e["card_last4"])
        for e in events
        if e["event"] == "payment_gateway_call"
    ]
    assert calls == [
        ("stripe", "authorize", "success", "visa", "4242"),
        ("stripe", "authorize", "success", "visa", "4242"),
        ("stripe", "authorize", "failure", None, None),
        ("stripe", "authorize", "failure", None, None),
        ("test", "authorize", "success", "visa", "4242"),
        ("test", "authorize", "failure", "visa", "0002"),
        ("test", "authorize", "failure", None, None),
        ("manual", "sale", "pending", None, None),
    ]
    # The stripe package's own records were captured too: only its bodies are dropped.
    assert any(record.name == "stripe" for record in caplog.records)
    assert not any(
        record.name == "stripe" and record.levelno <= logging.DEBUG for record in caplog.records
    )

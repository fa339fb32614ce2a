"""Choosing a gateway by name, once per process and configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr, ValidationError

from shopdb.config import Environment, Settings
from shopdb.errors import ValidationFailed
from shopdb.payments.gateways.manual import ManualGateway
from shopdb.payments.gateways.registry import available_gateways, close_gateways, gateway_for
from shopdb.payments.gateways.stripe import StripeGateway
from shopdb.payments.gateways.test import TestGateway

STRIPE_KEY = SecretStr("sk_test_registry")


@pytest.fixture(autouse=True)
async def _fresh_registry() -> AsyncIterator[None]:
    await close_gateways()
    yield
    await close_gateways()


def settings(**changes: object) -> Settings:
    """Settings as the environment would give them, without reading this machine's own."""
    values: dict[str, object] = {
        "env": Environment.DEVELOPMENT,
        "stripe_api_key": None,
        "payments_gateways": [],
        "payments_test_fail": [],
        "payments_test_latency_ms": 0,
        **changes,
    }
    return Settings(**values)  # type: ignore[arg-type]


class TestAvailableGateways:
    def test_development_offers_test_and_manual(self) -> None:
        assert available_gateways(settings()) == ["test", "manual"]

    def test_a_stripe_key_adds_stripe(self) -> None:
        assert available_gateways(settings(stripe_api_key=STRIPE_KEY)) == [
            "test",
            "manual",
            "stripe",
        ]

    def test_production_never_offers_the_test_gateway_unless_listed(self) -> None:
        production = settings().model_copy(update={"env": Environment.PRODUCTION})
        listed = settings(payments_gateways=["test", "manual"]).model_copy(
            update={"env": Environment.PRODUCTION}
        )

        assert available_gateways(production) == ["manual"]
        assert available_gateways(listed) == ["test", "manual"]

    def test_the_list_is_read_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SHOPDB_PAYMENTS_GATEWAYS", "manual, stripe")
        monkeypatch.setenv("SHOPDB_STRIPE_API_KEY", "sk_test_env")
        monkeypatch.setenv("SHOPDB_PAYMENTS_TEST_FAIL", "capture,void")
        monkeypatch.setenv("SHOPDB_PAYMENTS_TEST_LATENCY_MS", "15")

        loaded = Settings()

        assert available_gateways(loaded) == ["manual", "stripe"]
        assert loaded.payments_test_fail == ["capture", "void"]
        assert loaded.payments_test_latency_ms == 15
        assert "sk_test_env" not in repr(loaded)

    def test_listing_stripe_without_a_key_refuses_to_start(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("SHOPDB_STRIPE_API_KEY", raising=False)
        monkeypatch.setenv("SHOPDB_PAYMENTS_GATEWAYS", "stripe")

        with pytest.raises(ValidationError, match="SHOPDB_STRIPE_API_KEY"):
            Settings()

    def test_an_unknown_operation_to_fail_refuses_to_start(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SHOPDB_PAYMENTS_TEST_FAIL", "capture,explode")

        with pytest.raises(ValidationError, match="payments_test_fail"):
            Settings()


class TestGatewayFor:
    def test_builds_each_gateway_once_per_configuration(self) -> None:
        config = settings(stripe_api_key=STRIPE_KEY)

        test = gateway_for("test", config)
        manual = gateway_for("manual", config)
        stripe = gateway_for("stripe", config)

        assert isinstance(test, TestGateway)
        assert isinstance(manual, ManualGateway)
        assert isinstance(stripe, StripeGateway)
        assert gateway_for("test", settings(stripe_api_key=STRIPE_KEY)) is test
        assert gateway_for("stripe", settings(stripe_api_key=STRIPE_KEY)) is stripe

    def test_other_settings_get_their_own_gateway(self) -> None:
        plain = gateway_for("test", settings())
        slow = gateway_for("test", settings(payments_test_latency_ms=20))
        failing = gateway_for("test", settings(payments_test_fail=["void"]))

        assert isinstance(slow, TestGateway)
        assert isinstance(failing, TestGateway)
        assert len({id(plain), id(slow), id(failing)}) == 3
        assert slow.latency_seconds == 0.02
        assert failing.fail == {"void"}

    @pytest.mark.parametrize(
        ("name", "config", "message"),
        [
            ("paypal", settings(), "Unknown payment gateway 'paypal'; available: test, manual"),
            (
                "stripe",
                settings(),
                "The stripe gateway is not configured (SHOPDB_STRIPE_API_KEY); "
                "available: test, manual",
            ),
            (
                "test",
                settings(payments_gateways=["manual"]),
                "The test gateway is not enabled here; available: manual",
            ),
        ],
    )
    def test_refuses_what_cannot_be_used_on_payment_gateway(
        self, name: str, config: Settings, message: str
    ) -> None:
        with pytest.raises(ValidationFailed) as refused:
            gateway_for(name, config)

        assert refused.value.status_code == 400
        assert refused.value.details == [{"field": "payment.gateway", "message": message}]

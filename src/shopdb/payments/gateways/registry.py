"""Which gateway an order's `payment.gateway` names, built once per process and settings."""

from __future__ import annotations

from collections.abc import Hashable

from shopdb.config import Environment, PaymentGatewayName, Settings
from shopdb.errors import ValidationFailed
from shopdb.payments.gateways.base import PaymentGateway
from shopdb.payments.gateways.manual import ManualGateway
from shopdb.payments.gateways.stripe import StripeGateway
from shopdb.payments.gateways.test import TestGateway

_FIELD = "payment.gateway"
_ALL: tuple[PaymentGatewayName, ...] = ("test", "manual", "stripe")

# One instance per configuration: the Stripe client keeps its connections open between calls.
# Keyed by the settings each gateway reads, so tests that build other Settings get their own.
_gateways: dict[tuple[Hashable, ...], PaymentGateway] = {}


def available_gateways(settings: Settings) -> list[str]:
    """The gateways orders may name under `settings`, in a stable order."""
    if settings.payments_gateways:
        chosen = set(settings.payments_gateways)
    else:
        chosen = {"manual"}
        if settings.env is Environment.DEVELOPMENT:
            chosen.add("test")
        if settings.stripe_api_key is not None:
            chosen.add("stripe")
    return [name for name in _ALL if name in chosen]


def gateway_for(name: str, settings: Settings) -> PaymentGateway:
    """The gateway called `name`; ValidationFailed on `payment.gateway` when it cannot be used."""
    available = available_gateways(settings)
    if name not in available:
        if name == "stripe" and settings.stripe_api_key is None:
            reason = "The stripe gateway is not configured (SHOPDB_STRIPE_API_KEY)"
        elif name in _ALL:
            reason = f"The {name} gateway is not enabled here"
        else:
            reason = f"Unknown payment gateway {name!r}"
        raise ValidationFailed.on(_FIELD, f"{reason}; available: {', '.join(available)}")
    key = _configuration(name, settings)
    gateway = _gateways.get(key)
    if gateway is None:
        gateway = _gateways[key] = _build(name, settings)
    return gateway


async def close_gateways() -> None:
    """Close what the gateways hold open (Stripe's connection pool); for shutdown and tests."""
    gateways = list(_gateways.values())
    _gateways.clear()
    for gateway in gateways:
        if isinstance(gateway, StripeGateway):
            await gateway.aclose()


def _configuration(name: str, settings: Settings) -> tuple[Hashable, ...]:
    if name == "test":
        return (name, settings.payments_test_latency_ms, frozenset(settings.payments_test_fail))
    if name == "stripe":
        assert settings.stripe_api_key is not None
        return (
            name,
            settings.stripe_api_key.get_secret_value(),
            settings.stripe_api_base,
            settings.stripe_timeout_seconds,
            settings.stripe_max_network_retries,
        )
    return (name,)


def _build(name: str, settings: Settings) -> PaymentGateway:
    if name == "test":
        return TestGateway(
            latency_ms=settings.payments_test_latency_ms, fail=settings.payments_test_fail
        )
    if name == "stripe":
        assert settings.stripe_api_key is not None
        return StripeGateway(
            api_key=settings.stripe_api_key.get_secret_value(),
            api_base=settings.stripe_api_base,
            timeout_seconds=settings.stripe_timeout_seconds,
            max_network_retries=settings.stripe_max_network_retries,
        )
    return ManualGateway()

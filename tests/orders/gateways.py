"""A gateway for failure tests: the test gateway, with chosen operations made to fail."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from shopdb.config import Settings
from shopdb.orders import gates
from shopdb.payments.gateways.base import GatewayResult, PaymentGateway
from shopdb.payments.gateways.test import TestGateway


class ScriptedGateway:
    """Records every call; an operation in `errors` answers status `error` (the gateway could
    not decide), and one in `raises` raises, instead of asking the test gateway."""

    name = "test"
    # Treated as a remote gateway, so that these tests drive the placement whose payment
    # falls between its transactions (reserve, pay, record), with every undo path.
    local = False

    def __init__(self) -> None:
        self.inner = TestGateway()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: set[str] = set()
        self.raises: set[str] = set()

    async def _call(self, operation: str, **arguments: Any) -> GatewayResult:
        self.calls.append((operation, arguments))
        if operation in self.raises:
            raise RuntimeError(f"{operation} blew up")
        if operation in self.errors:
            return GatewayResult(
                status="error",
                amount=arguments.get("amount") or Decimal(0),
                currency=arguments.get("currency") or "USD",
                error_code="gateway_unavailable",
            )
        method = getattr(self.inner, operation)
        result: GatewayResult = await method(**arguments)
        return result

    async def authorize(self, **arguments: Any) -> GatewayResult:
        return await self._call("authorize", **arguments)

    async def sale(self, **arguments: Any) -> GatewayResult:
        return await self._call("sale", **arguments)

    async def capture(self, **arguments: Any) -> GatewayResult:
        return await self._call("capture", **arguments)

    async def void(self, **arguments: Any) -> GatewayResult:
        return await self._call("void", **arguments)

    async def refund(self, **arguments: Any) -> GatewayResult:
        return await self._call("refund", **arguments)

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]


def use_gateway(monkeypatch: pytest.MonkeyPatch, gateway: ScriptedGateway) -> None:
    """Every order (and the release job) pays through `gateway`."""

    def gateways(settings: Settings) -> Callable[[str], PaymentGateway]:
        def find(name: str) -> PaymentGateway:
            return gateway

        return find

    monkeypatch.setattr(gates, "registry_gateways", gateways)
    from shopdb.orders import jobs

    monkeypatch.setattr(jobs, "registry_gateways", gateways)

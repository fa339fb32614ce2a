"""Retried placements with one Idempotency-Key: the first result again (same order, same
status), never a second charge or stock move; another body with the key is 422."""

from __future__ import annotations

import asyncio

import pytest

from tests.idempotency.helpers import keyed
from tests.orders.conftest import Live
from tests.orders.gateways import ScriptedGateway, use_gateway
from tests.orders.helpers import (
    DECLINE,
    level,
    make_locations,
    make_variant,
    order_body,
    orders_with,
    place,
)


async def stocked(live: Live, units: int = 10) -> tuple[int, int, int]:
    (loc,) = await make_locations(live.database, "Main")
    tee = await make_variant(live.database, "12.00", {loc: units})
    return tee.variant_id, tee.item_id, loc


class TestRetries:
    async def test_a_retry_returns_the_same_order_without_a_second_charge(
        self, live: Live, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        gateway = ScriptedGateway()
        use_gateway(monkeypatch, gateway)
        variant, item, loc = await stocked(live)
        headers = keyed(live.headers, f"order-{variant}")
        body = order_body((variant, 2))

        first = await place(live.client, headers, body)
        again = await place(live.client, headers, body)

        assert first.status_code == again.status_code == 201, again.text
        assert again.content == first.content
        assert again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert gateway.operations() == ["sale"]
        async with live.database.session() as session:
            assert await level(session, item, loc) == (8, 2)
            assert len(await orders_with(session, variant)) == 1

    async def test_the_same_key_with_another_body_is_422_and_changes_nothing(
        self, live: Live
    ) -> None:
        variant, item, loc = await stocked(live)
        headers = keyed(live.headers, f"other-{variant}")
        assert (await place(live.client, headers, order_body((variant, 1)))).status_code == 201

        reused = await place(live.client, headers, order_body((variant, 3)))

        assert reused.status_code == 422, reused.text
        assert reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
        async with live.database.session() as session:
            assert await level(session, item, loc) == (9, 1)
            assert len(await orders_with(session, variant)) == 1

    async def test_a_declined_attempt_is_not_stored_and_runs_again(self, live: Live) -> None:
        variant, item, loc = await stocked(live)
        headers = keyed(live.headers, f"declined-{variant}")
        body = order_body((variant, 1))
        body["payment"]["token"] = DECLINE

        first = await place(live.client, headers, body)
        again = await place(live.client, headers, body)

        assert first.status_code == again.status_code == 402
        assert "Idempotent-Replayed" not in again.headers
        async with live.database.session() as session:
            assert await level(session, item, loc) == (10, 0)
            assert await orders_with(session, variant) == []


@pytest.mark.postgres_only
class TestConcurrentRetries:
    async def test_retries_while_the_first_runs_get_its_order(
        self, live: Live, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if live.database.primary.dialect.name == "sqlite":
            pytest.skip("needs real concurrent transactions")
        gateway = ScriptedGateway()
        use_gateway(monkeypatch, gateway)
        variant, item, loc = await stocked(live)
        headers = keyed(live.headers, f"race-{variant}")
        body = order_body((variant, 1))

        answers = await asyncio.gather(*(place(live.client, headers, body) for _ in range(8)))

        assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
        assert len({a.content for a in answers}) == 1
        assert [a.headers.get("Idempotent-Replayed") for a in answers].count(None) == 1
        assert gateway.operations() == ["sale"]
        async with live.database.session() as session:
            assert await level(session, item, loc) == (9, 1)
            assert len(await orders_with(session, variant)) == 1

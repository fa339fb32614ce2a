"""Retried placements with one Idempotency-Key: the first result again (same order, same
status), never a second charge or stock move; another body with the key is 422. Also when
the key's stored response was lost after the order committed (PostgreSQL): the order's
idempotency_token finds it again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shopdb.errors import ShopdbError
from shopdb.idempotency import IdempotencyKeyInUse
from shopdb.idempotency import service as idempotency
from shopdb.keys import field_cipher
from shopdb.orders import placement
from shopdb.orders.keyed import idempotency_token
from shopdb.orders.placement import PlacedOrder, Placement, place_order
from shopdb.orders.quoting import quote_order
from shopdb.orders.schemas import OrderCreate
from shopdb.services import services_of
from tests.checkouts.helpers import checkout_body, complete, create, stored
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


def postgres(live: Live) -> bool:
    return live.database.primary.dialect.name == "postgresql"


class LostResponses:
    """`idempotency.service.complete` fails for the first `failures` calls, as a connection
    lost while the request's transaction (the key and its response) commits would: the
    request fails and its transaction is rolled back. What it was to store is kept."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, failures: int = 1) -> None:
        self.real = idempotency.complete
        self.failures = failures
        self.lost: list[dict[str, Any]] = []
        monkeypatch.setattr(idempotency, "complete", self)

    async def __call__(self, session: Any, claimed: Any, status: int, body: Any) -> None:
        if len(self.lost) < self.failures:
            self.lost.append(body)
            raise RuntimeError("connection lost while storing the response")
        await self.real(session, claimed, status, body)


class TestLostStoredResponse:
    """issue 12: on PostgreSQL the order commits before the key's response; losing the latter
    must not let a retry place (and charge) a second order."""

    async def test_a_retry_gets_the_order_whose_response_was_not_stored(
        self, live: Live, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        gateway = ScriptedGateway()
        use_gateway(monkeypatch, gateway)
        lost = LostResponses(monkeypatch)
        variant, item, loc = await stocked(live)
        headers = keyed(live.headers, f"lost-{variant}")
        body = order_body((variant, 1))

        first = await place(live.client, headers, body)
        again = await place(live.client, headers, body)
        third = await place(live.client, headers, body)

        assert first.status_code == 500
        assert again.status_code == third.status_code == 201, again.text
        assert "Idempotent-Replayed" not in again.headers
        assert third.headers["Idempotent-Replayed"] == "true"
        assert third.content == again.content
        async with live.database.session() as session:
            assert await level(session, item, loc) == (9, 1)
            (order,) = await orders_with(session, variant)
        assert again.json()["id"] == order.id
        assert order.reserved_until is None
        if postgres(live):
            # The order committed with the first request: the retry answers with it, the
            # very body the first would have stored, and charges nothing.
            assert again.text == lost.lost[0]["body"]
            assert again.headers["Location"] == lost.lost[0]["headers"]["Location"]
            assert gateway.operations() == ["sale"]
        # SQLite: the failed request rolled back its order with its key; the retry placed it.

    async def test_a_retry_while_the_first_payment_awaits_its_undo_is_409(
        self, live: Live, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if not postgres(live):
            pytest.skip("on SQLite the failed request's reservation rolls back with it")
        gateway = ScriptedGateway()
        use_gateway(monkeypatch, gateway)
        record = placement._record
        calls = {"record": 0}

        async def failing_record(*args: Any, **kwargs: Any) -> Any:
            calls["record"] += 1
            if calls["record"] == 1:
                raise RuntimeError("the database went away before the commit")
            return await record(*args, **kwargs)

        monkeypatch.setattr(placement, "_record", failing_record)
        gateway.raises.add("refund")  # the sale cannot be undone now: the release job will
        variant, item, loc = await stocked(live)
        headers = keyed(live.headers, f"unsettled-{variant}")
        body = order_body((variant, 1))

        first = await place(live.client, headers, body)
        again = await place(live.client, headers, body)

        assert first.status_code == 500
        assert again.status_code == 409, again.text
        assert again.json()["code"] == "IDEMPOTENCY_KEY_IN_USE"
        assert again.headers["Retry-After"] == "1"
        assert gateway.operations().count("sale") == 1
        async with live.database.session() as session:
            assert await level(session, item, loc) == (9, 1)
            (reservation,) = await orders_with(session, variant)
        assert reservation.reserved_until is not None
        assert reservation.unsettled_payment_reference is not None

    async def test_the_token_is_a_hash_of_the_caller_and_the_key(
        self, live: Live, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        variant, _, _ = await stocked(live)
        key = f"hashed-{variant}"
        placed = await place(live.client, keyed(live.headers, key), order_body((variant, 1)))
        unkeyed = await place(live.client, live.headers, order_body((variant, 1)))
        assert placed.status_code == unkeyed.status_code == 201, unkeyed.text
        async with live.database.session() as session:
            first, second = await orders_with(session, variant)
        assert first.idempotency_token is not None
        assert key not in first.idempotency_token
        assert len(first.idempotency_token) == 64
        assert first.idempotency_token != idempotency_token("someone else", key)
        assert second.idempotency_token is None


@pytest.mark.postgres_only
class TestConcurrentDuplicates:
    async def test_duplicates_past_the_check_meet_the_unique_index(
        self, live: Live, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Two placements with one token that both passed the lookup (held at the quote
        until both have): one order, one charge; the other gets that order or 409."""
        if not postgres(live):
            pytest.skip("needs real concurrent transactions")
        gateway = ScriptedGateway()
        variant, item, loc = await stocked(live)
        settings = services_of(live.app).settings
        target = Placement(
            transactions=live.database.session,
            settings=settings,
            cipher=field_cipher(settings),
            gateway_for=lambda _name: gateway,
        )
        both_checked = asyncio.Barrier(2)
        conflicts: list[bool] = []
        token_taken = placement._token_taken

        def seen_conflict(exc: Any) -> bool:
            conflicts.append(token_taken(exc))
            return conflicts[-1]

        monkeypatch.setattr(placement, "_token_taken", seen_conflict)

        async def quote_after_both(*args: Any, **kwargs: Any) -> Any:
            await asyncio.wait_for(both_checked.wait(), 10)  # each placement quotes once
            return await quote_order(*args, **kwargs)

        monkeypatch.setattr(placement, "quote_order", quote_after_both)
        data = OrderCreate.model_validate(order_body((variant, 1)))
        token = idempotency_token("racer", f"race-{variant}")

        outcomes = await asyncio.gather(
            *(place_order(target, data, idempotency_token=token) for _ in range(2)),
            return_exceptions=True,
        )

        placed = [o for o in outcomes if isinstance(o, PlacedOrder)]
        refused = [o for o in outcomes if isinstance(o, ShopdbError)]
        assert placed, outcomes
        assert len(placed) + len(refused) == 2, outcomes
        assert {p.order.id for p in placed} == {placed[0].order.id}
        assert all(isinstance(r, IdempotencyKeyInUse) for r in refused), outcomes
        assert conflicts == [True]  # the second reservation met the index
        assert gateway.operations() == ["sale"]
        async with live.database.session() as session:
            assert await level(session, item, loc) == (9, 1)
            (order,) = await orders_with(session, variant)
        assert order.id == placed[0].order.id
        assert order.reserved_until is None


class TestCheckoutCompletion:
    """Through a remote gateway (ScriptedGateway), paid between the placement's transactions:
    on PostgreSQL the order then commits before the key's response."""

    async def test_a_retry_gets_the_completion_whose_response_was_not_stored(
        self, live: Live, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        use_gateway(monkeypatch, ScriptedGateway())
        lost = LostResponses(monkeypatch)
        variant, item, loc = await stocked(live)
        checkout = await create(live.client, live.headers, checkout_body((variant, 2)))
        key = f"complete-{variant}"

        first = await complete(live.client, live.headers, checkout["token"], key=key)
        again = await complete(live.client, live.headers, checkout["token"], key=key)
        third = await complete(live.client, live.headers, checkout["token"], key=key)

        assert first.status_code == 500
        assert again.status_code == third.status_code == 201, again.text
        assert third.headers["Idempotent-Replayed"] == "true"
        assert third.content == again.content
        if postgres(live):
            assert again.text == lost.lost[0]["body"]
        async with live.database.session() as session:
            assert await level(session, item, loc) == (8, 2)
            (order,) = await orders_with(session, variant)
            done = await stored(session, checkout["token"])
        assert again.json()["id"] == order.id
        assert done.order_id == order.id

    async def test_the_key_of_another_checkouts_order_is_422(
        self, live: Live, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if not postgres(live):
            pytest.skip("on SQLite no order outlives its failed request's key")
        use_gateway(monkeypatch, ScriptedGateway())
        LostResponses(monkeypatch)
        variant, item, loc = await stocked(live)
        one = await create(live.client, live.headers, checkout_body((variant, 1)))
        other = await create(live.client, live.headers, checkout_body((variant, 1)))
        key = f"two-checkouts-{variant}"

        first = await complete(live.client, live.headers, one["token"], key=key)
        reused = await complete(live.client, live.headers, other["token"], key=key)

        assert first.status_code == 500
        assert reused.status_code == 422, reused.text
        assert reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
        async with live.database.session() as session:
            assert await level(session, item, loc) == (9, 1)
            assert len(await orders_with(session, variant)) == 1
            untouched = await stored(session, other["token"])
        assert untouched.completed_at is None


class TestLocalGatewayLostResponse:
    """Paid through a local gateway (the test gateway), the order, its checkout's completion and
    the key's response commit in one transaction: a lost response takes the order with it, and
    the retry places it once."""

    async def test_a_retry_places_the_order_once(
        self, live: Live, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        LostResponses(monkeypatch)
        variant, item, loc = await stocked(live)
        headers = keyed(live.headers, f"local-{variant}")
        body = order_body((variant, 2))

        first = await place(live.client, headers, body)
        async with live.database.session() as session:
            assert await orders_with(session, variant) == []
            assert await level(session, item, loc) == (10, 0)
        again = await place(live.client, headers, body)
        third = await place(live.client, headers, body)

        assert first.status_code == 500
        assert again.status_code == third.status_code == 201, again.text
        assert third.headers["Idempotent-Replayed"] == "true"
        assert third.content == again.content
        async with live.database.session() as session:
            assert await level(session, item, loc) == (8, 2)
            (order,) = await orders_with(session, variant)
        assert again.json()["id"] == order.id

    async def test_a_checkout_completion_is_retried_from_scratch(
        self, live: Live, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        LostResponses(monkeypatch)
        variant, item, loc = await stocked(live)
        checkout = await create(live.client, live.headers, checkout_body((variant, 2)))
        key = f"local-complete-{variant}"

        first = await complete(live.client, live.headers, checkout["token"], key=key)
        async with live.database.session() as session:
            open_again = await stored(session, checkout["token"])
        again = await complete(live.client, live.headers, checkout["token"], key=key)

        assert first.status_code == 500
        assert (open_again.completed_at, open_again.completing_until) == (None, None)
        assert again.status_code == 201, again.text
        async with live.database.session() as session:
            assert await level(session, item, loc) == (8, 2)
            (order,) = await orders_with(session, variant)
            done = await stored(session, checkout["token"])
        assert done.order_id == order.id == again.json()["id"]

"""The gateway, or the database, failing at each step of a placement: no charge is kept
without an order, nothing of a refused order stays reserved, and no reservation outlives its
time. On PostgreSQL these run on a database that really commits (the `live` fixture): each
placement step commits by itself there, as in production."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

from shopdb.events.service import new_event
from shopdb.kit.types import utcnow
from shopdb.models import Job, Order
from shopdb.orders import placement
from shopdb.orders.jobs import RELEASE_EXPIRED_RESERVATIONS
from shopdb.services import services_of
from tests.jobs.helpers import make_worker
from tests.orders.conftest import Live
from tests.orders.gateways import ScriptedGateway, use_gateway
from tests.orders.helpers import (
    APPROVE,
    DECLINE,
    discount_used,
    gift_card_balance,
    level,
    make_locations,
    make_variant,
    order_body,
    orders_with,
    place,
)
from tests.orders.test_adjustments import discount_code, gift_card

postgres_only = pytest.mark.postgres_only


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> ScriptedGateway:
    scripted = ScriptedGateway()
    use_gateway(monkeypatch, scripted)
    return scripted


def fail_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    """The transaction that records the payment fails (as a lost connection would)."""

    def failing(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("topic") == "orders/create":
            raise RuntimeError("the database went away")
        return new_event(*args, **kwargs)

    monkeypatch.setattr(placement, "new_event", failing)


async def stocked(live: Live) -> tuple[int, int, int]:
    (loc,) = await make_locations(live.database, "Main")
    tee = await make_variant(live.database, "10.00", {loc: 5})
    return tee.variant_id, tee.item_id, loc


async def run_release_job(live: Live) -> None:
    """Run the due release jobs; a failed one is retried a minute later, not at once."""
    settings = services_of(live.app).settings
    worker = make_worker(
        live.database,
        settings,
        [RELEASE_EXPIRED_RESERVATIONS],
        retry_base_seconds=60,
        retry_max_seconds=120,
    )
    await worker.run_due()


async def expire(live: Live, variant_id: int) -> None:
    async with live.database.session() as session:
        ids = [o.id for o in await orders_with(session, variant_id)]
        await session.execute(
            update(Order)
            .where(Order.id.in_(ids), Order.reserved_until.is_not(None))
            .values(reserved_until=utcnow() - timedelta(seconds=1))
        )


class TestDeclineReleases:
    async def test_stock_code_use_and_gift_card_come_back(self, live: Live) -> None:
        variant, item, loc = await stocked(live)
        code = f"ONCE{variant}"
        await discount_code(live.client, live.headers, code, usageLimit=1)
        card = await gift_card(live.client, live.headers, "5.00")
        body = order_body((variant, 2), discountCode=code, giftCardCodes=[card["code"]])
        body["payment"]["token"] = DECLINE

        response = await place(live.client, live.headers, body)

        assert response.status_code == 402, response.text
        async with live.database.session() as session:
            assert await level(session, item, loc) == (5, 0)
            assert await discount_used(session, code) == 0
            assert await gift_card_balance(session, card["id"]) == Decimal("5.00")
            assert await orders_with(session, variant) == []


class TestGatewayFailures:
    @pytest.mark.parametrize("capture", [False, True])
    async def test_an_error_is_retried_once_then_502_and_nothing_kept(
        self, live: Live, gateway: ScriptedGateway, capture: bool
    ) -> None:
        variant, item, loc = await stocked(live)
        operation = "sale" if capture else "authorize"
        gateway.errors.add(operation)
        body = order_body((variant, 2))
        body["payment"]["capture"] = capture

        response = await place(live.client, live.headers, body)

        assert response.status_code == 502, response.text
        assert response.json()["code"] == "PAYMENT_GATEWAY_ERROR"
        assert gateway.operations() == [operation, operation]
        keys = {arguments["idempotency_key"] for _, arguments in gateway.calls}
        assert len(keys) == 1  # the retry carries the same key: it cannot charge twice
        async with live.database.session() as session:
            assert await level(session, item, loc) == (5, 0)
            assert await orders_with(session, variant) == []

    async def test_a_gateway_that_raises_keeps_nothing(
        self, live: Live, gateway: ScriptedGateway
    ) -> None:
        variant, item, loc = await stocked(live)
        gateway.raises.add("sale")

        response = await place(live.client, live.headers, order_body((variant, 1)))

        assert response.status_code == 500
        async with live.database.session() as session:
            assert await level(session, item, loc) == (5, 0)
            assert await orders_with(session, variant) == []


class TestRecordingFails:
    @pytest.mark.parametrize(("capture", "undo"), [(False, "void"), (True, "refund")])
    async def test_the_payment_is_undone_and_the_reservation_released(
        self,
        live: Live,
        gateway: ScriptedGateway,
        monkeypatch: pytest.MonkeyPatch,
        capture: bool,
        undo: str,
    ) -> None:
        variant, item, loc = await stocked(live)
        fail_recording(monkeypatch)
        body = order_body((variant, 2))
        body["payment"]["capture"] = capture

        response = await place(live.client, live.headers, body)

        assert response.status_code == 500
        paid = "sale" if capture else "authorize"
        assert gateway.operations() == [paid, undo]
        (_, paid_with), (_, undone_with) = gateway.calls
        assert paid_with["amount"] == Decimal("20.00")
        assert undone_with["idempotency_key"] != paid_with["idempotency_key"]
        async with live.database.session() as session:
            assert await level(session, item, loc) == (5, 0)
            assert await orders_with(session, variant) == []

    @postgres_only
    async def test_a_void_that_fails_is_left_to_the_release_job(
        self, live: Live, gateway: ScriptedGateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if live.database.primary.dialect.name == "sqlite":
            pytest.skip("SQLite: the request's rollback holds every step (see placement.py)")
        variant, item, loc = await stocked(live)
        fail_recording(monkeypatch)
        gateway.errors.add("void")
        body = order_body((variant, 2))
        body["payment"]["capture"] = False

        response = await place(live.client, live.headers, body)

        assert response.status_code == 500
        async with live.database.session() as session:
            (order,) = await orders_with(session, variant)
            assert order.reserved_until is not None
            assert order.unsettled_payment_kind == "authorization"
            assert await level(session, item, loc) == (3, 2)
        # A reservation is not an order yet: not read, not listed.
        hidden = await live.client.get(f"/api/v1/orders/{order.id}", headers=live.headers)
        assert hidden.status_code == 404
        listed = await live.client.get("/api/v1/orders", headers=live.headers)
        assert order.id not in [o["id"] for o in listed.json()["items"]]

        await release_now(live)  # not expired yet: left alone
        async with live.database.session() as session:
            assert len(await orders_with(session, variant)) == 1

        await expire(live, variant)
        await release_now(live)  # the gateway still fails: the job will retry
        async with live.database.session() as session:
            assert len(await orders_with(session, variant)) == 1

        gateway.errors.clear()
        await expire(live, variant)
        await release_now(live)
        assert gateway.operations()[-1] == "void"
        async with live.database.session() as session:
            assert await level(session, item, loc) == (5, 0)
            assert await orders_with(session, variant) == []


class TestCrashBeforeRecording:
    @postgres_only
    async def test_the_release_job_returns_everything_once_the_reservation_expires(
        self, live: Live, gateway: ScriptedGateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # `gateway`: a remote one, paid between the placement's transactions.
        if live.database.primary.dialect.name == "sqlite":
            pytest.skip("SQLite: the request's rollback takes the reservation with it")
        variant, item, loc = await stocked(live)

        async def died(*args: Any, **kwargs: Any) -> None:
            return None  # the process died before it could release

        monkeypatch.setattr(placement, "_release", died)
        body = order_body((variant, 2))
        body["payment"]["token"] = DECLINE
        assert (await place(live.client, live.headers, body)).status_code == 402
        async with live.database.session() as session:
            assert await level(session, item, loc) == (3, 2)

        await expire(live, variant)
        await release_now(live)

        async with live.database.session() as session:
            assert await level(session, item, loc) == (5, 0)
            assert await orders_with(session, variant) == []

    @postgres_only
    async def test_a_placed_order_is_left_alone_by_the_job(self, live: Live) -> None:
        if live.database.primary.dialect.name == "sqlite":
            pytest.skip("the job runs against PostgreSQL here")
        variant, item, loc = await stocked(live)
        body = order_body((variant, 1))
        body["payment"]["token"] = APPROVE
        assert (await place(live.client, live.headers, body)).status_code == 201

        await release_now(live)

        async with live.database.session() as session:
            assert await level(session, item, loc) == (4, 1)
            assert len(await orders_with(session, variant)) == 1


async def release_now(live: Live) -> None:
    """Run the release jobs now, retries included (their backoff is zero in tests)."""
    async with live.database.session() as session:
        await session.execute(
            update(Job)
            .where(Job.kind == RELEASE_EXPIRED_RESERVATIONS.kind.name, Job.status == "queued")
            .values(run_after=utcnow() - timedelta(seconds=1))
        )
    await run_release_job(live)

"""The worker bills due subscription contracts through the order placement: a success
advances the cycle, a decline is retried after 1 and 3 days and then pauses the contract,
and a cycle never gets two orders."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.jobs.runner import JobContext
from shopdb.models import Event, InventoryLevel, Order, OrderLineItem, SubscriptionContract
from shopdb.orders.errors import VariantOutOfStock
from shopdb.selling_plans.billing import Billing, bill_due, billing_token
from shopdb.selling_plans.rules import start_of
from shopdb.services import services_of
from shopdb.storage import storage_from_settings
from shopdb.worker import periodic_tasks
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.orders.helpers import DECLINE, count, level
from tests.selling_plans.helpers import (
    CONTRACTS,
    ORDERS,
    Shop,
    add_months,
    billing_for,
    contract_row,
    contracts_of_order,
    due_time,
    subscription_order,
)


@pytest.fixture
def billing(app: FastAPI, database: Database) -> Billing:
    return billing_for(database, services_of(app).settings)


async def subscribe(
    client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, shop: Shop
) -> tuple[dict[str, Any], SubscriptionContract]:
    response = await client.post(
        ORDERS, json=subscription_order(shop, shop.plan("Monthly, 10% off")), headers=admin
    )
    assert response.status_code == 201, response.text
    [contract] = await contracts_of_order(db_session, response.json()["id"])
    return response.json(), contract


async def orders_of(session: AsyncSession, customer_id: int) -> list[Order]:
    rows = await session.scalars(
        select(Order).where(Order.customer_id == customer_id).order_by(Order.id)
    )
    return list(rows)


async def contract_topics(session: AsyncSession, contract_id: int) -> list[str]:
    rows = await session.scalars(
        select(Event.topic)
        .where(Event.subject_type == "SubscriptionContract", Event.subject_id == contract_id)
        .order_by(Event.id)
    )
    return list(rows)


async def state(session: AsyncSession, contract_id: int) -> tuple[Any, ...]:
    row = await contract_row(session, contract_id)
    return (row.billing_attempt_count, row.last_failure_code, row.next_attempt_at)


class TestBillingSucceeds:
    async def test_places_the_next_order_and_advances_the_cycle(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        shop: Shop,
        billing: Billing,
    ) -> None:
        origin, contract = await subscribe(client, admin, db_session, shop)
        anchor = contract.anchor_date
        now = due_time(contract)

        early = await bill_due(billing, now=now - timedelta(days=1))
        counts = await bill_due(billing, now=now)
        again = await bill_due(billing, now=now)

        assert early == {"billed": 0, "failed": 0, "paused": 0, "skipped": 0}
        assert counts == {"billed": 1, "failed": 0, "paused": 0, "skipped": 0}
        assert again["billed"] == 0
        first, renewal = await orders_of(db_session, shop.customer_id)
        assert first.id == origin["id"]
        assert (renewal.total_price, renewal.financial_status, renewal.tags) == (
            first.total_price,
            "paid",
            "subscription",
        )
        assert renewal.idempotency_token == billing_token(contract.id, contract.next_billing_date)
        lines = await db_session.execute(
            select(
                OrderLineItem.price, OrderLineItem.quantity, OrderLineItem.selling_plan_id
            ).where(OrderLineItem.order_id == renewal.id)
        )
        assert [tuple(r) for r in lines] == [
            (first.subtotal_price / 2, 2, shop.plan("Monthly, 10% off"))
        ]
        advanced = await contract_row(db_session, contract.id)
        assert (advanced.billing_cycle, advanced.next_billing_date) == (2, add_months(anchor, 2))
        assert advanced.next_attempt_at == start_of(add_months(anchor, 2))
        assert (advanced.last_order_id, advanced.billing_attempt_count) == (renewal.id, 0)
        assert advanced.billing_lease_until is None
        # The renewal opens no contract of its own.
        assert await count(db_session, SubscriptionContract) == 1
        assert await level(db_session, shop.item_id, shop.location_id) == (46, 4)
        assert await contract_topics(db_session, contract.id) == [
            "subscription_contracts/create",
            "subscription_billing_attempts/success",
        ]

    async def test_a_cycle_already_ordered_is_not_ordered_again(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        shop: Shop,
        billing: Billing,
    ) -> None:
        _, contract = await subscribe(client, admin, db_session, shop)
        cycle_date, now = contract.next_billing_date, due_time(contract)
        await bill_due(billing, now=now)
        [_, renewal] = await orders_of(db_session, shop.customer_id)
        # As if the contract's advance had been lost after the cycle's order was placed.
        await db_session.execute(
            update(SubscriptionContract)
            .where(SubscriptionContract.id == contract.id)
            .values(billing_cycle=1, next_billing_date=cycle_date, next_attempt_at=now)
        )

        counts = await bill_due(billing, now=now)

        assert counts["billed"] == 1
        assert [o.id for o in await orders_of(db_session, shop.customer_id)][-1] == renewal.id
        assert len(await orders_of(db_session, shop.customer_id)) == 2
        advanced = await contract_row(db_session, contract.id)
        assert (advanced.billing_cycle, advanced.last_order_id) == (2, renewal.id)


class TestBillingDeclines:
    async def test_a_declined_card_is_retried_after_1_and_3_days_then_paused(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        shop: Shop,
        billing: Billing,
    ) -> None:
        _, contract = await subscribe(client, admin, db_session, shop)
        changed = await client.put(
            f"{CONTRACTS}/{contract.id}/payment-method",
            json={"gateway": "test", "token": DECLINE},
            headers=admin,
        )
        assert changed.status_code == 200, changed.text
        now = due_time(contract)

        first = await bill_due(billing, now=now)
        after_first = await state(db_session, contract.id)
        too_soon = await bill_due(billing, now=now + timedelta(hours=23))
        second = await bill_due(billing, now=now + timedelta(days=1))
        after_second = await state(db_session, contract.id)
        third = await bill_due(billing, now=now + timedelta(days=4))
        paused = await contract_row(db_session, contract.id)
        later = await bill_due(billing, now=now + timedelta(days=40))

        assert first["failed"] == 1
        assert after_first == (1, "card_declined", now + timedelta(days=1))
        assert too_soon["failed"] == 0
        assert second["failed"] == 1
        assert after_second == (2, "card_declined", now + timedelta(days=4))
        assert third == {"billed": 0, "failed": 0, "paused": 1, "skipped": 0}
        assert (paused.status, paused.billing_attempt_count, paused.billing_cycle) == (
            "paused",
            3,
            1,
        )
        assert paused.paused_at == now + timedelta(days=4)
        assert later == {"billed": 0, "failed": 0, "paused": 0, "skipped": 0}
        # Nothing was ordered, nothing moved.
        assert len(await orders_of(db_session, shop.customer_id)) == 1
        assert await level(db_session, shop.item_id, shop.location_id) == (48, 2)
        assert await contract_topics(db_session, contract.id) == [
            "subscription_contracts/create",
            "subscription_contracts/update",
            "subscription_billing_attempts/failure",
            "subscription_billing_attempts/failure",
            "subscription_billing_attempts/failure",
            "subscription_contracts/pause",
        ]
        read = await client.get(f"{CONTRACTS}/{contract.id}", headers=admin)
        assert (read.json()["status"], read.json()["lastFailureCode"]) == (
            "paused",
            "card_declined",
        )
        assert read.json()["nextAttemptAt"] is None

    async def test_a_resumed_contract_with_a_new_card_bills_its_cycle(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        shop: Shop,
        billing: Billing,
    ) -> None:
        _, contract = await subscribe(client, admin, db_session, shop)
        await client.put(
            f"{CONTRACTS}/{contract.id}/payment-method",
            json={"gateway": "test", "token": DECLINE},
            headers=admin,
        )
        now = due_time(contract)
        for days in (0, 1, 4):
            await bill_due(billing, now=now + timedelta(days=days))

        new_card = await client.put(
            f"{CONTRACTS}/{contract.id}/payment-method",
            json={"gateway": "test", "token": "4242424242424242"},
            headers=admin,
        )
        resumed = await client.post(f"{CONTRACTS}/{contract.id}/resume", headers=admin)
        billed = await bill_due(billing, now=now + timedelta(days=5))

        assert new_card.status_code == 200
        assert resumed.status_code == 200, resumed.text
        assert (resumed.json()["status"], resumed.json()["billingAttemptCount"]) == ("active", 0)
        assert billed["billed"] == 1
        assert (await contract_row(db_session, contract.id)).billing_cycle == 2
        assert len(await orders_of(db_session, shop.customer_id)) == 2


class TestTransitions:
    async def test_pause_resume_cancel_and_what_each_refuses(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        shop: Shop,
        billing: Billing,
    ) -> None:
        _, contract = await subscribe(client, admin, db_session, shop)
        url = f"{CONTRACTS}/{contract.id}"

        paused = await client.post(f"{url}/pause", headers=admin)
        paused_again = await client.post(f"{url}/pause", headers=admin)
        not_billed = await bill_due(billing, now=due_time(contract))
        resumed = await client.post(f"{url}/resume", headers=admin)
        cancelled = await client.post(f"{url}/cancel", headers=admin)
        resumed_cancelled = await client.post(f"{url}/resume", headers=admin)
        new_card = await client.put(
            f"{url}/payment-method", json={"gateway": "test", "token": "x"}, headers=admin
        )
        never_billed = await bill_due(billing, now=due_time(contract) + timedelta(days=60))

        assert paused.status_code == 200
        assert paused.json()["status"] == "paused"
        assert paused_again.status_code == 409
        assert paused_again.json()["code"] == "INVALID_CONTRACT_STATUS"
        assert not_billed["billed"] == 0
        assert resumed.json()["status"] == "active"
        assert resumed.json()["nextAttemptAt"] == start_of(
            contract.next_billing_date
        ).isoformat().replace("+00:00", "Z")
        assert cancelled.json()["status"] == "cancelled"
        assert resumed_cancelled.status_code == 409
        assert new_card.status_code == 409
        assert never_billed["billed"] == 0
        assert len(await orders_of(db_session, shop.customer_id)) == 1
        assert await contract_topics(db_session, contract.id) == [
            "subscription_contracts/create",
            "subscription_contracts/pause",
            "subscription_contracts/activate",
            "subscription_contracts/cancel",
        ]

    async def test_a_live_contract_keeps_its_plan_and_product(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, shop: Shop
    ) -> None:
        _, contract = await subscribe(client, admin, db_session, shop)
        group_url = f"/api/v1/selling-plan-groups/{shop.group['id']}"

        detach = await client.request(
            "DELETE", f"{group_url}/products", json={"productIds": [shop.product_id]}, headers=admin
        )
        delete = await client.delete(group_url, headers=admin)
        await client.post(f"{CONTRACTS}/{contract.id}/cancel", headers=admin)
        delete_after_cancel = await client.delete(group_url, headers=admin)

        assert (detach.status_code, detach.json()["code"]) == (409, "SELLING_PLAN_IN_USE")
        assert delete.status_code == 409
        assert delete_after_cancel.status_code == 204
        assert (await contract_row(db_session, contract.id)).selling_plan_id is None

    async def test_stripe_ids_are_saved_together(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, shop: Shop
    ) -> None:
        _, contract = await subscribe(client, admin, db_session, shop)
        url = f"{CONTRACTS}/{contract.id}/payment-method"

        alone = await client.put(
            url, json={"gateway": "stripe", "stripeCustomerId": "cus_123"}, headers=admin
        )
        both = await client.put(
            url,
            json={
                "gateway": "stripe",
                "stripeCustomerId": "cus_123",
                "stripePaymentMethodId": "pm_card_visa",
            },
            headers=admin,
        )

        assert alone.status_code == 400
        assert both.status_code == 200, both.text
        assert both.json()["paymentMethod"] == {"gateway": "stripe", "kind": "stripe_customer"}
        assert "cus_123" not in (await contract_row(db_session, contract.id)).payment_method


class TestContractList:
    async def test_a_page_of_contracts_costs_the_same_whatever_its_size(
        self,
        backend: Backend,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        shop: Shop,
    ) -> None:
        for _ in range(6):
            await subscribe(client, admin, db_session, shop)

        with statements_sent(backend.engine, first_word=True) as small:
            await client.get(CONTRACTS, params={"pageSize": 2}, headers=admin)
        with statements_sent(backend.engine, first_word=True) as large:
            page = await client.get(
                CONTRACTS, params={"pageSize": 6, "status": "active"}, headers=admin
            )

        assert len(page.json()["items"]) == 6
        assert small == large
        assert [s for s in large if s == "SELECT"] == ["SELECT"]


class TestWorkerWiring:
    async def test_the_worker_runs_the_billing_sweep(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        shop: Shop,
    ) -> None:
        _, contract = await subscribe(client, admin, db_session, shop)
        services = services_of(app)
        [task] = [
            t for t in periodic_tasks(services.settings) if t.name == "subscriptions/bill_due"
        ]
        # Overdue by the time the sweep runs (its clock is now): cycle 1 is due.
        await db_session.execute(
            update(SubscriptionContract)
            .where(SubscriptionContract.id == contract.id)
            .values(next_attempt_at=start_of(contract.anchor_date))
        )

        result = await task.run(
            JobContext(
                services.database, storage_from_settings(services.settings), services.settings
            )
        )

        assert result == {"billed": 1, "failed": 0, "paused": 0, "skipped": 0}
        assert len(await orders_of(db_session, shop.customer_id)) == 2


class TestBillingRefusals:
    async def test_no_stock_is_a_failed_attempt_with_its_reason(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        shop: Shop,
        billing: Billing,
    ) -> None:
        _, contract = await subscribe(client, admin, db_session, shop)
        await db_session.execute(
            update(InventoryLevel)
            .where(InventoryLevel.inventory_item_id == shop.item_id)
            .values(available=1)
        )
        now = due_time(contract)

        counts = await bill_due(billing, now=now)

        assert counts["failed"] == 1
        row = await contract_row(db_session, contract.id)
        assert (row.billing_attempt_count, row.last_failure_code, row.billing_cycle) == (
            1,
            VariantOutOfStock.code.lower(),
            1,
        )
        assert row.last_failure_message is not None
        assert len(await orders_of(db_session, shop.customer_id)) == 1
        assert await level(db_session, shop.item_id, shop.location_id) == (1, 2)

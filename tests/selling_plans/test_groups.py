"""/api/v1/selling-plan-groups: groups with their plans, policies validated, products."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, ProductSellingPlan, SellingPlan, SellingPlanGroup
from tests.fixtures.catalog import Headers, TokenFactory
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.orders.helpers import count
from tests.selling_plans.helpers import GROUPS, MONTHLY_10, ONCE_FIXED_5, Shop


def plan_with(**fields: Any) -> dict[str, Any]:
    return {**MONTHLY_10, **fields}


async def topics(session: AsyncSession, group_id: int) -> list[str]:
    rows = await session.scalars(
        select(Event.topic)
        .where(Event.subject_type == "SellingPlanGroup", Event.subject_id == group_id)
        .order_by(Event.id)
    )
    return list(rows)


class TestCreate:
    async def test_creates_a_group_with_its_plans(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        response = await client.post(
            GROUPS,
            json={
                "name": "Subscribe and save",
                "merchantCode": "sub-save",
                "options": ["Delivery every"],
                "plans": [MONTHLY_10, ONCE_FIXED_5],
            },
            headers=admin,
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["Location"] == f"{GROUPS}/{body['id']}"
        assert (body["name"], body["merchantCode"], body["options"]) == (
            "Subscribe and save",
            "sub-save",
            ["Delivery every"],
        )
        assert [
            (p["name"], p["recurring"], p["billingPolicy"], p["pricingPolicy"], p["status"])
            for p in body["plans"]
        ] == [
            (
                "Monthly, 10% off",
                True,
                {"interval": "month", "intervalCount": 1},
                {"adjustmentType": "percentage", "adjustmentValue": "10"},
                "active",
            ),
            (
                "Pre-order, 5.00 off",
                False,
                {"interval": None, "intervalCount": 1},
                {"adjustmentType": "fixed_amount", "adjustmentValue": "5.00"},
                "active",
            ),
        ]
        assert body["productIds"] == []
        assert await topics(db_session, body["id"]) == ["selling_plan_groups/create"]
        read = await client.get(f"{GROUPS}/{body['id']}", headers=admin)
        assert read.json() == body

    async def test_a_plan_without_pricing_policy_keeps_the_catalog_price(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        plan = {k: v for k, v in MONTHLY_10.items() if k != "pricingPolicy"}

        response = await client.post(GROUPS, json={"name": "G", "plans": [plan]}, headers=admin)

        assert response.status_code == 201, response.text
        assert response.json()["plans"][0]["pricingPolicy"] == {}


class TestPolicyValidation:
    async def _refused(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        plan: dict[str, Any],
    ) -> list[str]:
        before = await count(db_session, SellingPlanGroup)
        response = await client.post(GROUPS, json={"name": "G", "plans": [plan]}, headers=admin)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert await count(db_session, SellingPlanGroup) == before
        return [detail["field"] for detail in response.json()["details"]]

    async def test_rejects_an_unknown_interval(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        plan = plan_with(billingPolicy={"interval": "fortnight", "intervalCount": 1})

        fields = await self._refused(client, admin, db_session, plan)

        assert fields == ["plans[0].billingPolicy.interval"]

    async def test_rejects_an_interval_count_below_one(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        plan = plan_with(deliveryPolicy={"interval": "week", "intervalCount": 0})

        fields = await self._refused(client, admin, db_session, plan)

        assert fields == ["plans[0].deliveryPolicy.intervalCount"]

    async def test_rejects_a_percentage_above_100(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        plan = plan_with(pricingPolicy={"adjustmentType": "percentage", "adjustmentValue": "101"})

        fields = await self._refused(client, admin, db_session, plan)

        assert fields == ["plans[0].pricingPolicy.adjustmentValue"]

    async def test_rejects_a_negative_fixed_amount_and_price(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        for kind in ("fixed_amount", "price"):
            plan = plan_with(pricingPolicy={"adjustmentType": kind, "adjustmentValue": "-1"})

            fields = await self._refused(client, admin, db_session, plan)

            assert fields == ["plans[0].pricingPolicy.adjustmentValue"]

    async def test_rejects_an_unknown_adjustment_type(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        plan = plan_with(pricingPolicy={"adjustmentType": "bogo", "adjustmentValue": "1"})

        fields = await self._refused(client, admin, db_session, plan)

        assert fields == ["plans[0].pricingPolicy.adjustmentType"]

    async def test_a_plan_update_is_validated_too(
        self, client: httpx.AsyncClient, admin: Headers, shop: Shop
    ) -> None:
        plan_id = shop.plan("Monthly, 10% off")
        url = f"{GROUPS}/{shop.group['id']}/plans/{plan_id}"

        response = await client.put(
            url, json={"billingPolicy": {"interval": "month", "intervalCount": -2}}, headers=admin
        )

        assert response.status_code == 400
        assert [d["field"] for d in response.json()["details"]] == ["billingPolicy.intervalCount"]
        read = await client.get(f"{GROUPS}/{shop.group['id']}", headers=admin)
        assert read.json()["plans"][0]["billingPolicy"] == {"interval": "month", "intervalCount": 1}


class TestPlansAndGroups:
    async def test_updates_the_group_and_its_plans(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, shop: Shop
    ) -> None:
        group_id = shop.group["id"]
        plan_id = shop.plan("Monthly, 10% off")

        renamed = await client.put(
            f"{GROUPS}/{group_id}", json={"name": "Subscriptions", "position": 2}, headers=admin
        )
        repriced = await client.put(
            f"{GROUPS}/{group_id}/plans/{plan_id}",
            json={
                "pricingPolicy": {"adjustmentType": "price", "adjustmentValue": "15.00"},
                "billingPolicy": {"interval": "week", "intervalCount": 2},
            },
            headers=admin,
        )

        assert renamed.status_code == 200, renamed.text
        assert (renamed.json()["name"], renamed.json()["position"]) == ("Subscriptions", 2)
        assert repriced.status_code == 200, repriced.text
        assert repriced.json()["pricingPolicy"] == {
            "adjustmentType": "price",
            "adjustmentValue": "15.00",
        }
        assert repriced.json()["billingPolicy"] == {"interval": "week", "intervalCount": 2}

    async def test_a_plan_added_later_is_offered_by_the_groups_products(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, shop: Shop
    ) -> None:
        group_id = shop.group["id"]

        added = await client.post(
            f"{GROUPS}/{group_id}/plans",
            json=plan_with(name="Yearly", billingPolicy={"interval": "year", "intervalCount": 1}),
            headers=admin,
        )

        assert added.status_code == 201, added.text
        links = await db_session.scalars(
            select(ProductSellingPlan.product_id).where(
                ProductSellingPlan.selling_plan_id == added.json()["id"]
            )
        )
        assert list(links) == [shop.product_id]

    async def test_deletes_a_plan_then_the_group(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, shop: Shop
    ) -> None:
        group_id = shop.group["id"]
        plan_id = shop.plan("Pre-order, 5.00 off")

        deleted_plan = await client.delete(f"{GROUPS}/{group_id}/plans/{plan_id}", headers=admin)
        after_plan = await client.get(f"{GROUPS}/{group_id}", headers=admin)
        deleted = await client.delete(f"{GROUPS}/{group_id}", headers=admin)
        gone = await client.get(f"{GROUPS}/{group_id}", headers=admin)

        assert deleted_plan.status_code == 204
        assert [p["name"] for p in after_plan.json()["plans"]] == ["Monthly, 10% off"]
        assert deleted.status_code == 204
        assert gone.status_code == 404
        assert (
            await count(db_session, SellingPlan, SellingPlan.selling_plan_group_id == group_id) == 0
        )
        assert await topics(db_session, group_id) == [
            "selling_plan_groups/create",
            "selling_plan_groups/update",
            "selling_plan_groups/update",
            "selling_plan_groups/delete",
        ]

    async def test_an_unknown_plan_is_404(
        self, client: httpx.AsyncClient, admin: Headers, shop: Shop
    ) -> None:
        response = await client.put(
            f"{GROUPS}/{shop.group['id']}/plans/999999", json={"name": "x"}, headers=admin
        )

        assert response.status_code == 404


class TestProducts:
    async def test_attaches_and_detaches_products(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, shop: Shop
    ) -> None:
        group_id = shop.group["id"]
        assert shop.group["productIds"] == [shop.product_id]
        assert (
            await count(
                db_session, ProductSellingPlan, ProductSellingPlan.product_id == shop.product_id
            )
            == 2
        )

        again = await client.post(
            f"{GROUPS}/{group_id}/products", json={"productIds": [shop.product_id]}, headers=admin
        )
        listed = await client.get(GROUPS, params={"productId": shop.product_id}, headers=admin)
        detached = await client.request(
            "DELETE",
            f"{GROUPS}/{group_id}/products",
            json={"productIds": [shop.product_id]},
            headers=admin,
        )
        listed_after = await client.get(
            GROUPS, params={"productId": shop.product_id}, headers=admin
        )

        assert again.json()["productIds"] == [shop.product_id]
        assert [g["id"] for g in listed.json()["items"]] == [group_id]
        assert detached.status_code == 200, detached.text
        assert detached.json()["productIds"] == []
        assert listed_after.json()["items"] == []

    async def test_rejects_products_that_do_not_exist(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, shop: Shop
    ) -> None:
        before = await count(db_session, ProductSellingPlan)

        response = await client.post(
            f"{GROUPS}/{shop.group['id']}/products",
            json={"productIds": [shop.product_id, 987654321]},
            headers=admin,
        )

        assert response.status_code == 400
        assert response.json()["details"] == [
            {"field": "productIds[1]", "message": "does not exist"}
        ]
        assert await count(db_session, ProductSellingPlan) == before


class TestPermissions:
    async def test_reading_does_not_allow_writing(
        self, client: httpx.AsyncClient, token_for: TokenFactory, shop: Shop
    ) -> None:
        reader = token_for("selling_plans:read")

        read = await client.get(GROUPS, headers=reader)
        write = await client.post(GROUPS, json={"name": "G"}, headers=reader)
        other = await client.get(GROUPS, headers=token_for("orders:read"))

        assert read.status_code == 200
        assert write.status_code == 403
        assert other.status_code == 403


class TestList:
    async def test_pages_by_id(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        ids = []
        for name in ("A", "B", "C"):
            created = await client.post(
                GROUPS, json={"name": name, "plans": [MONTHLY_10]}, headers=admin
            )
            ids.append(created.json()["id"])

        first = await client.get(GROUPS, params={"pageSize": 2, "withTotal": "true"}, headers=admin)
        second = await client.get(
            GROUPS, params={"pageSize": 2, "cursor": first.json()["nextCursor"]}, headers=admin
        )

        seen = [g["id"] for g in first.json()["items"] + second.json()["items"]]
        assert [i for i in seen if i in ids] == ids
        assert first.json()["totalCount"] >= 3
        assert all(len(g["plans"]) == 1 for g in first.json()["items"] if g["id"] in ids)


class TestQueryCount:
    async def test_a_page_of_groups_costs_the_same_whatever_its_size(
        self, backend: Backend, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        for name in "ABCDEFGH":
            await client.post(GROUPS, json={"name": name, "plans": [MONTHLY_10]}, headers=admin)

        with statements_sent(backend.engine, first_word=True) as small:
            await client.get(GROUPS, params={"pageSize": 2}, headers=admin)
        with statements_sent(backend.engine, first_word=True) as large:
            page = await client.get(GROUPS, params={"pageSize": 8}, headers=admin)

        assert len(page.json()["items"]) == 8
        assert small == large
        # The groups, their plans, the products offering them.
        assert [s for s in large if s == "SELECT"] == ["SELECT"] * 3

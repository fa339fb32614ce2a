"""taxExempt and taxExemptions (Shopify's TaxExemption codes), and the service the checkout
reads them through."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.customers import service
from shopdb.customers.errors import CustomerNotFound
from shopdb.customers.tax import TAX_EXEMPTIONS, TaxStatus
from tests.customers.conftest import CUSTOMERS, create_customer


class TestCodes:
    def test_the_list_is_shopifys(self) -> None:
        canada = {c for c in TAX_EXEMPTIONS if c.startswith("CA_")}
        united_states = {c for c in TAX_EXEMPTIONS if c.startswith("US_")}

        assert len(canada) == 22
        assert len(united_states) == 51  # the 50 states and DC
        assert TAX_EXEMPTIONS - canada - united_states == {"EU_REVERSE_CHARGE_EXEMPTION_RULE"}
        assert {
            "CA_STATUS_CARD_EXEMPTION",
            "CA_BC_RESELLER_EXEMPTION",
            "CA_SK_VPT_RESELLER_EXEMPTION",
            "CA_ON_PURCHASE_EXEMPTION",
            "US_CA_RESELLER_EXEMPTION",
            "US_DC_RESELLER_EXEMPTION",
            "US_WY_RESELLER_EXEMPTION",
        } <= TAX_EXEMPTIONS


class TestOverHttp:
    async def test_stored_and_returned_without_duplicates(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(
            client,
            headers,
            taxExemptions=[
                "US_CA_RESELLER_EXEMPTION",
                "CA_STATUS_CARD_EXEMPTION",
                "US_CA_RESELLER_EXEMPTION",
            ],
        )

        read = (await client.get(f"{CUSTOMERS}/{created['id']}", headers=headers)).json()
        assert read["taxExempt"] is False
        assert read["taxExemptions"] == ["US_CA_RESELLER_EXEMPTION", "CA_STATUS_CARD_EXEMPTION"]

    async def test_an_unknown_code_is_refused_naming_it_and_changes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers, taxExemptions=["CA_DIPLOMAT_EXEMPTION"])

        answers = [
            await client.put(
                f"{CUSTOMERS}/{created['id']}", json={"taxExemptions": codes}, headers=headers
            )
            for codes in (
                ["CA_BC_RESELLER_EXEMPTION", "US_XX_RESELLER_EXEMPTION"],
                ["ca_bc_reseller_exemption"],
                ["AUSTRALIA_RESELLER_EXEMPTION"],  # Shopify's unstable version only
            )
        ]

        assert [(r.status_code, r.json()["details"][0]["field"]) for r in answers] == [
            (400, "taxExemptions[1]"),
            (400, "taxExemptions[0]"),
            (400, "taxExemptions[0]"),
        ]
        current = (await client.get(f"{CUSTOMERS}/{created['id']}", headers=headers)).json()
        assert (current["taxExemptions"], current["version"]) == (["CA_DIPLOMAT_EXEMPTION"], 1)

    async def test_update_replaces_the_list_and_sets_the_flag(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers, taxExemptions=["CA_DIPLOMAT_EXEMPTION"])

        response = await client.put(
            f"{CUSTOMERS}/{created['id']}",
            json={"taxExempt": True, "taxExemptions": ["EU_REVERSE_CHARGE_EXEMPTION_RULE"]},
            headers=headers,
        )
        cleared = await client.put(
            f"{CUSTOMERS}/{created['id']}", json={"taxExemptions": []}, headers=headers
        )

        assert response.status_code == 200
        assert response.json()["taxExempt"] is True
        assert response.json()["taxExemptions"] == ["EU_REVERSE_CHARGE_EXEMPTION_RULE"]
        assert (cleared.json()["taxExempt"], cleared.json()["taxExemptions"]) == (True, [])

    async def test_null_is_refused(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers)

        answers = [
            await client.put(f"{CUSTOMERS}/{created['id']}", json={field: None}, headers=headers)
            for field in ("taxExempt", "taxExemptions")
        ]

        assert [r.status_code for r in answers] == [400, 400]


class TestTaxStatusService:
    async def test_returns_the_flag_and_the_codes(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        exempt = await create_customer(client, headers, taxExempt=True)
        reseller = await create_customer(
            client, headers, taxExemptions=["US_NY_RESELLER_EXEMPTION"]
        )

        assert await service.tax_status(db_session, exempt["id"]) == TaxStatus(True, ())
        status = await service.tax_status(db_session, reseller["id"])
        assert status == TaxStatus(False, ("US_NY_RESELLER_EXEMPTION",))
        assert status.is_exempt_from("US_NY_RESELLER_EXEMPTION")
        assert not status.is_exempt_from("US_NJ_RESELLER_EXEMPTION")
        assert (await service.tax_status(db_session, exempt["id"])).is_exempt_from("anything")

    async def test_an_unknown_or_deleted_customer_is_not_found(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        gone = await create_customer(client, headers)
        await client.delete(f"{CUSTOMERS}/{gone['id']}", headers=headers)

        for customer_id in (gone["id"], 999_999):
            with pytest.raises(CustomerNotFound):
                await service.tax_status(db_session, customer_id)

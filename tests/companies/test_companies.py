"""/api/v1/companies and their payment terms on SQLite and PostgreSQL: CRUD, the seed's
CHECKs as 400s naming the field, If-Match, permissions, events, and the list's filters,
sorts, pages and query count."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.models import B2BPaymentTerm, Company, Event
from tests.companies.conftest import COMPANIES, create_company, create_term
from tests.fixtures.catalog import Headers, TokenFactory
from tests.fixtures.queries import statements_sent


def fields(response: httpx.Response) -> list[str]:
    return [d["field"] for d in response.json()["details"]]


async def count(session: AsyncSession, model: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def events(session: AsyncSession, company_id: int) -> list[str]:
    rows = await session.scalars(
        select(Event.topic)
        .where(Event.subject_type == "Company", Event.subject_id == company_id)
        .order_by(Event.id)
    )
    return list(rows)


async def refused(session: AsyncSession, row: Any) -> bool:
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return True
    return False


class TestCompanyCrud:
    async def test_creates_reads_updates_and_deletes_a_company(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        response = await client.post(
            COMPANIES,
            json={
                "companyName": "Acme Wholesale",
                "taxId": "DE123",
                "creditLimit": "5000",
                "paymentTerms": "Net 30",
                "billingAddress": {"city": "Berlin", "country": "DE"},
                "contactEmail": "AP@Acme.example",
                "contactPhone": "+49 30 1234",
            },
            headers=admin,
        )

        assert response.status_code == 201, response.text
        company = response.json()
        assert response.headers["Location"] == f"{COMPANIES}/{company['id']}"
        assert response.headers["ETag"] == '"1"'
        assert {k: v for k, v in company.items() if k not in ("id", "createdAt", "updatedAt")} == {
            "companyName": "Acme Wholesale",
            "taxId": "DE123",
            "creditLimit": "5000.00",
            "outstandingBalance": "0.00",
            "paymentTerms": "Net 30",
            "billingAddress": {"city": "Berlin", "country": "DE"},
            "contactEmail": "ap@acme.example",
            "contactPhone": "+49 30 1234",
            "status": "active",
            "version": 1,
        }

        read = await client.get(f"{COMPANIES}/{company['id']}", headers=admin)
        updated = await client.put(
            f"{COMPANIES}/{company['id']}",
            json={"creditLimit": "7500.5", "taxId": None},
            headers={**admin, "If-Match": '"1"'},
        )
        assert read.json() == company
        assert updated.status_code == 200, updated.text
        assert (updated.json()["creditLimit"], updated.json()["taxId"]) == ("7500.50", None)
        assert (updated.json()["version"], updated.headers["ETag"]) == (2, '"2"')

        deleted = await client.delete(f"{COMPANIES}/{company['id']}", headers=admin)
        assert deleted.status_code == 204
        gone = await client.get(f"{COMPANIES}/{company['id']}", headers=admin)
        assert (gone.status_code, gone.json()["code"]) == (404, "NOT_FOUND")
        assert await events(db_session, company["id"]) == [
            "companies/create",
            "companies/update",
            "companies/delete",
        ]

    async def test_a_stale_if_match_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        company = await create_company(client, admin)
        await client.put(f"{COMPANIES}/{company['id']}", json={"taxId": "X"}, headers=admin)

        stale = await client.put(
            f"{COMPANIES}/{company['id']}",
            json={"creditLimit": "1"},
            headers={**admin, "If-Match": '"1"'},
        )
        refused_delete = await client.delete(
            f"{COMPANIES}/{company['id']}", headers={**admin, "If-Match": '"1"'}
        )

        assert (stale.status_code, refused_delete.status_code) == (412, 412)
        after = (await client.get(f"{COMPANIES}/{company['id']}", headers=admin)).json()
        assert (after["creditLimit"], after["version"]) == ("1000.00", 2)

    async def test_deleting_a_company_deletes_its_payment_terms(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        company = await create_company(client, admin)
        await create_term(client, admin, company["id"])
        before = await count(db_session, B2BPaymentTerm)

        response = await client.delete(f"{COMPANIES}/{company['id']}", headers=admin)

        assert response.status_code == 204
        assert await count(db_session, B2BPaymentTerm) == before - 1


class TestCompanyValidation:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"creditLimit": "-0.01"}, "creditLimit"),
            ({"creditLimit": "1.234"}, "creditLimit"),
            ({"companyName": ""}, "companyName"),
            ({"status": "closed"}, "status"),
            ({"contactEmail": "not-an-email"}, "contactEmail"),
            ({"outstanding": "5"}, "outstanding"),
        ],
    )
    async def test_refuses_a_bad_field_naming_it_and_creates_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        body: dict[str, Any],
        field: str,
    ) -> None:
        before = await count(db_session, Company)

        response = await client.post(COMPANIES, json={"companyName": "Acme", **body}, headers=admin)

        assert response.status_code == 400, response.text
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert fields(response) == [field]
        assert await count(db_session, Company) == before

    async def test_refuses_a_negative_credit_limit_on_update(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        company = await create_company(client, admin)

        response = await client.put(
            f"{COMPANIES}/{company['id']}", json={"creditLimit": "-5"}, headers=admin
        )
        nulled = await client.put(
            f"{COMPANIES}/{company['id']}", json={"companyName": None}, headers=admin
        )

        assert (response.status_code, fields(response)) == (400, ["creditLimit"])
        assert (nulled.status_code, fields(nulled)) == (400, ["companyName"])
        after = (await client.get(f"{COMPANIES}/{company['id']}", headers=admin)).json()
        assert after == company

    async def test_the_database_refuses_what_the_api_never_writes(
        self, db_session: AsyncSession
    ) -> None:
        company = Company(company_name="Raw")
        db_session.add(company)
        await db_session.flush()
        for row in (
            Company(company_name="Negative", credit_limit=Decimal(-1)),
            Company(company_name="Owing", outstanding_balance=Decimal(-1)),
            B2BPaymentTerm(company_id=company.id, net_days=0),
            B2BPaymentTerm(company_id=company.id, discount_percentage=Decimal("100.01")),
            B2BPaymentTerm(company_id=company.id, discount_percentage=Decimal(-1)),
        ):
            assert await refused(db_session, row), row


class TestPaymentTerms:
    async def test_creates_lists_reads_updates_and_deletes_a_term(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        company = await create_company(client, admin)
        base = f"{COMPANIES}/{company['id']}/payment-terms"

        response = await client.post(
            base,
            json={
                "netDays": 45,
                "discountPercentage": "2",
                "creditLimit": "2500",
                "paymentMethodPreferences": ["ach", "wire"],
                "earlyPaymentDiscountDays": 10,
                "latePaymentFeePercentage": "1.5",
            },
            headers=admin,
        )
        assert response.status_code == 201, response.text
        term = response.json()
        assert response.headers["Location"] == f"{base}/{term['id']}"
        assert {k: v for k, v in term.items() if k not in ("id", "createdAt", "updatedAt")} == {
            "companyId": company["id"],
            "netDays": 45,
            "discountPercentage": "2.00",
            "creditLimit": "2500.00",
            "paymentMethodPreferences": ["ach", "wire"],
            "earlyPaymentDiscountDays": 10,
            "latePaymentFeePercentage": "1.50",
        }
        second = await create_term(client, admin, company["id"], netDays=60)

        listed = await client.get(base, headers=admin)
        one = await client.get(f"{base}/{term['id']}", headers=admin)
        updated = await client.put(
            f"{base}/{term['id']}",
            json={"netDays": 30, "latePaymentFeePercentage": None},
            headers=admin,
        )
        deleted = await client.delete(f"{base}/{second['id']}", headers=admin)

        assert [t["id"] for t in listed.json()["items"]] == [term["id"], second["id"]]
        assert one.json() == term
        assert updated.status_code == 200, updated.text
        assert (updated.json()["netDays"], updated.json()["latePaymentFeePercentage"]) == (30, None)
        assert updated.json()["discountPercentage"] == "2.00"
        assert deleted.status_code == 204
        assert (await client.get(f"{base}/{second['id']}", headers=admin)).status_code == 404
        assert (
            await events(db_session, company["id"])
            == ["companies/create"] + ["companies/update"] * 4
        )

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"netDays": 0}, "netDays"),
            ({"netDays": -30}, "netDays"),
            ({"discountPercentage": "100.01"}, "discountPercentage"),
            ({"discountPercentage": "-1"}, "discountPercentage"),
            ({"latePaymentFeePercentage": "101"}, "latePaymentFeePercentage"),
            ({"creditLimit": "-1"}, "creditLimit"),
            ({"earlyPaymentDiscountDays": -1}, "earlyPaymentDiscountDays"),
            ({"netDays": 10, "earlyPaymentDiscountDays": 11}, "earlyPaymentDiscountDays"),
        ],
    )
    async def test_refuses_a_term_breaking_a_rule_naming_the_field(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        body: dict[str, Any],
        field: str,
    ) -> None:
        company = await create_company(client, admin)
        before = await count(db_session, B2BPaymentTerm)

        response = await client.post(
            f"{COMPANIES}/{company['id']}/payment-terms", json=body, headers=admin
        )

        assert response.status_code == 400, response.text
        assert fields(response) == [field]
        assert await count(db_session, B2BPaymentTerm) == before

    async def test_an_update_breaking_a_rule_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        company = await create_company(client, admin)
        term = await create_term(client, admin, company["id"], earlyPaymentDiscountDays=10)
        url = f"{COMPANIES}/{company['id']}/payment-terms/{term['id']}"

        too_short = await client.put(url, json={"netDays": 5}, headers=admin)
        zero = await client.put(url, json={"netDays": 0}, headers=admin)

        assert (too_short.status_code, fields(too_short)) == (400, ["earlyPaymentDiscountDays"])
        assert (zero.status_code, fields(zero)) == (400, ["netDays"])
        assert (await client.get(url, headers=admin)).json() == term

    async def test_a_term_of_another_company_is_not_found(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        first = await create_company(client, admin)
        other = await create_company(client, admin, companyName="Other")
        term = await create_term(client, admin, first["id"])

        response = await client.get(
            f"{COMPANIES}/{other['id']}/payment-terms/{term['id']}", headers=admin
        )
        missing = await client.get(f"{COMPANIES}/999999/payment-terms", headers=admin)

        assert response.status_code == 404
        assert missing.status_code == 404


class TestListing:
    async def test_filters_sorts_and_pages(self, client: httpx.AsyncClient, admin: Headers) -> None:
        names = ["Beta Supply", "alpha traders", "Alpine Goods", "Gamma"]
        made = [
            await create_company(
                client, admin, companyName=n, creditLimit=str(100 * (i + 1)), taxId=f"T{i}"
            )
            for i, n in enumerate(names)
        ]
        await client.put(f"{COMPANIES}/{made[3]['id']}", json={"status": "inactive"}, headers=admin)

        by_prefix = await client.get(
            COMPANIES, params={"companyName": "AL", "sortBy": "companyName"}, headers=admin
        )
        inactive = await client.get(COMPANIES, params={"status": "inactive"}, headers=admin)
        by_tax = await client.get(COMPANIES, params={"taxId": "T0"}, headers=admin)
        by_limit = await client.get(
            COMPANIES,
            params={"sortBy": "creditLimit", "sortDirection": "desc", "pageSize": 2},
            headers=admin,
        )
        next_page = await client.get(
            COMPANIES,
            params={
                "sortBy": "creditLimit",
                "sortDirection": "desc",
                "pageSize": 2,
                "cursor": by_limit.json()["nextCursor"],
                "withTotal": "true",
            },
            headers=admin,
        )
        bad_sort = await client.get(COMPANIES, params={"sortBy": "taxId"}, headers=admin)

        assert [c["companyName"] for c in by_prefix.json()["items"]] == [
            "Alpine Goods",
            "alpha traders",
        ]
        assert [c["id"] for c in inactive.json()["items"]] == [made[3]["id"]]
        assert [c["id"] for c in by_tax.json()["items"]] == [made[0]["id"]]
        assert [c["creditLimit"] for c in by_limit.json()["items"]] == ["400.00", "300.00"]
        assert [c["creditLimit"] for c in next_page.json()["items"]] == ["200.00", "100.00"]
        assert next_page.json()["totalCount"] == 4
        assert (bad_sort.status_code, fields(bad_sort)) == (400, ["sortBy"])

    async def test_a_page_costs_one_query_whatever_its_size(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        for n in range(5):
            await create_company(client, admin, companyName=f"Co {n}")
        await client.get(COMPANIES, headers=admin)  # warm the caller's authentication

        with statements_sent(database.primary, first_word=True) as sent:
            response = await client.get(COMPANIES, params={"pageSize": 5}, headers=admin)

        assert response.status_code == 200
        assert len(response.json()["items"]) == 5
        assert sent.count("SELECT") <= 2, sent


class TestIdempotentCreate:
    async def test_a_retry_with_the_same_key_replays_the_first_answer(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        keyed = {**admin, "Idempotency-Key": "company-once"}
        before = await count(db_session, Company)

        first = await client.post(COMPANIES, json={"companyName": "Once"}, headers=keyed)
        second = await client.post(COMPANIES, json={"companyName": "Once"}, headers=keyed)

        assert (first.status_code, second.status_code) == (201, 201)
        assert second.json() == first.json()
        assert second.headers.get("idempotent-replayed") == "true"
        assert await count(db_session, Company) == before + 1


class TestPermissions:
    async def test_reading_needs_companies_read_and_writing_companies_write(
        self, client: httpx.AsyncClient, token_for: TokenFactory, admin: Headers
    ) -> None:
        company = await create_company(client, admin)
        reader = token_for("companies:read")
        writer = token_for("companies:write")

        assert (await client.get(COMPANIES, headers=reader)).status_code == 200
        assert (await client.get(COMPANIES, headers=writer)).status_code == 403
        assert (
            await client.post(COMPANIES, json={"companyName": "X"}, headers=reader)
        ).status_code == 403
        assert (
            await client.get(f"{COMPANIES}/{company['id']}/balance", headers=writer)
        ).status_code == 403
        assert (
            await client.delete(f"{COMPANIES}/{company['id']}", headers=writer)
        ).status_code == 204

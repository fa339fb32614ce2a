"""Stored order documents (orders/stored.py), on PostgreSQL in transactions that really commit:
a read stores the order's detail and summary, a change makes them not current until the next
read stores them again, a reader never stores what an older snapshot built, plaintext emails
are never stored, and a company's deletion (which nulls its orders' link) shows in them.

Every lifecycle operation, at random and concurrently, is checked against the stored
documents by tests/orders/test_lifecycle_reconciliation.py ("documents")."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, text, update

from shopdb.kit import journal
from shopdb.models import Order, OrderDocumentStore
from shopdb.orders.stored import STORE_DETAILS
from tests.orders.conftest import Live
from tests.orders.helpers import ORDERS, make_locations, make_variant, order_body, place

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def live_postgres_only(live: Live) -> Live:
    if live.database.primary.dialect.name != "postgresql":
        pytest.skip("order documents are stored on PostgreSQL only")
    return live


async def placed_order(live: Live, **fields: Any) -> dict[str, Any]:
    [location] = await make_locations(live.database, f"Stored {uuid.uuid4().hex[:6]}")
    stocked = await make_variant(live.database, "12.00", {location: 5})
    fields.setdefault("email", f"stored-{uuid.uuid4().hex[:8]}@example.com")
    body = order_body((stocked.variant_id, 1), **fields)
    answer = await place(live.client, live.headers, body)
    assert answer.status_code == 201, answer.text
    placed: dict[str, Any] = answer.json()
    return placed


async def new_company(live: Live) -> int:
    name = f"Stored Co {uuid.uuid4().hex[:6]}"
    company = await live.client.post(
        "/api/v1/companies", json={"companyName": name}, headers=live.headers
    )
    assert company.status_code == 201, company.text
    company_id: int = company.json()["id"]
    return company_id


async def stored_row(live: Live, order_id: int) -> OrderDocumentStore | None:
    async with live.database.session() as session:
        return await session.get(OrderDocumentStore, order_id)


async def read(live: Live, order_id: int) -> dict[str, Any]:
    answer = await live.client.get(f"{ORDERS}/{order_id}", headers=live.headers)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def listed(live: Live, email: str) -> list[dict[str, Any]]:
    answer = await live.client.get(ORDERS, params={"email": email}, headers=live.headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


class TestStoredOrderDocuments:
    async def test_reads_store_the_documents_and_a_change_makes_them_not_current(
        self, live_postgres_only: Live
    ) -> None:
        live = live_postgres_only
        order = await placed_order(
            live, payment={"gateway": "test", "token": "4242424242424242", "capture": False}
        )
        assert await stored_row(live, order["id"]) is None  # placing stores nothing

        assert await read(live, order["id"]) == order
        assert [o["id"] for o in await listed(live, order["email"])] == [order["id"]]
        row = await stored_row(live, order["id"])
        assert row is not None
        assert row.detail is not None
        assert row.summary is not None
        assert row.detail_stamp == row.summary_stamp == row.stamp
        assert order["email"] not in row.detail + row.summary  # sealed, as in `orders`

        captured = await live.client.post(
            f"{ORDERS}/{order['id']}/transactions",
            json={"kind": "capture"},
            headers=live.headers,
        )
        assert captured.status_code == 201, captured.text
        changed = await stored_row(live, order["id"])
        assert changed is not None
        assert changed.stamp > row.stamp

        detail = await read(live, order["id"])
        [summary] = await listed(live, order["email"])
        assert detail["financialStatus"] == summary["financialStatus"] == "paid"
        assert [t["kind"] for t in detail["transactions"]] == ["authorization", "capture"]
        again = await stored_row(live, order["id"])
        assert again is not None
        assert again.detail_stamp == again.summary_stamp == again.stamp == changed.stamp

    @pytest.mark.parametrize("sort", ["createdAt", "number", "totalPrice"])
    async def test_a_page_mixes_stored_and_built_summaries_in_its_order(
        self, live_postgres_only: Live, sort: str
    ) -> None:
        live = live_postgres_only
        email = f"mixed-{uuid.uuid4().hex[:8]}@example.com"
        orders = [await placed_order(live, email=email) for _ in range(3)]
        await read(live, orders[1]["id"])
        await listed(live, email)  # all three summaries stored
        closed = await live.client.post(f"{ORDERS}/{orders[2]['id']}/close", headers=live.headers)
        assert closed.status_code == 200, closed.text  # its summary is not current now

        asked: dict[str, str | int] = {
            "email": email,
            "sortBy": sort,
            "sortDirection": "asc",
            "pageSize": 2,
        }
        answer = await live.client.get(ORDERS, params=asked, headers=live.headers)
        assert answer.status_code == 200, answer.text
        cursor = answer.json()["nextCursor"]
        rest = await live.client.get(
            ORDERS, params={**asked, "cursor": cursor}, headers=live.headers
        )
        assert rest.status_code == 200, rest.text

        items = answer.json()["items"] + rest.json()["items"]
        assert [o["id"] for o in items] == [o["id"] for o in orders]
        assert [o["status"] for o in items] == ["open", "open", "closed"]
        assert {o["email"] for o in items} == {email}

    async def test_what_a_reader_built_before_a_change_is_never_stored_as_current(
        self, live_postgres_only: Live
    ) -> None:
        live = live_postgres_only
        order = await placed_order(live)
        # What a reader saw in its snapshot: the row's stamp (no row yet: 0) and the version.
        async with live.database.session() as session:
            version = await session.scalar(select(Order.version).where(Order.id == order["id"]))
        seen_stamp = 0
        closed = await live.client.post(f"{ORDERS}/{order['id']}/close", headers=live.headers)
        assert closed.status_code == 200, closed.text

        async with live.database.session() as session:  # the reader's late store
            await session.execute(
                STORE_DETAILS,
                {
                    "ids": [order["id"]],
                    "stamps": [seen_stamp],
                    "versions": [version],
                    "documents": ['{"stale":true}'],
                },
            )
        row = await stored_row(live, order["id"])
        assert row is not None
        assert row.detail_stamp != row.stamp
        assert (await read(live, order["id"]))["closedAt"] is not None

    async def test_a_plaintext_email_is_built_on_every_read_and_never_stored(
        self, live_postgres_only: Live
    ) -> None:
        live = live_postgres_only
        order = await placed_order(live)
        async with live.database.session() as session:  # a row from before sealing
            await session.execute(
                update(Order)
                .where(Order.id == order["id"])
                .values(email="old@example.com", email_hash=None)
            )

        assert (await read(live, order["id"]))["email"] == "old@example.com"
        assert [o["email"] for o in await listed(live, "old@example.com")] == []  # no hash
        row = await stored_row(live, order["id"])
        assert row is None or (row.detail is None and row.summary is None)

    async def test_deleting_a_company_shows_in_the_documents_of_its_orders(
        self, live_postgres_only: Live
    ) -> None:
        live = live_postgres_only
        order = await placed_order(live)
        company_id = await new_company(live)
        async with live.database.session() as session:  # before any read: nothing stored
            await session.execute(
                update(Order).where(Order.id == order["id"]).values(company_id=company_id)
            )
        assert (await read(live, order["id"]))["companyId"] == company_id
        assert (await listed(live, order["email"]))[0]["companyId"] == company_id

        deleted = await live.client.delete(f"/api/v1/companies/{company_id}", headers=live.headers)
        assert deleted.status_code == 204, deleted.text

        assert (await read(live, order["id"]))["companyId"] is None
        assert (await listed(live, order["email"]))[0]["companyId"] is None

    async def test_deleting_a_payment_term_shows_in_the_documents_of_its_orders(
        self, live_postgres_only: Live
    ) -> None:
        live = live_postgres_only
        order = await placed_order(live)
        terms = f"/api/v1/companies/{await new_company(live)}/payment-terms"
        term = await live.client.post(terms, json={"netDays": 30}, headers=live.headers)
        assert term.status_code == 201, term.text
        async with live.database.session() as session:  # before any read: nothing stored
            await session.execute(
                update(Order)
                .where(Order.id == order["id"])
                .values(payment_terms_id=term.json()["id"])
            )
        assert (await read(live, order["id"]))["paymentTermsId"] == term.json()["id"]

        deleted = await live.client.delete(f"{terms}/{term.json()['id']}", headers=live.headers)
        assert deleted.status_code == 204, deleted.text

        assert (await read(live, order["id"]))["paymentTermsId"] is None

    async def test_a_deleted_order_is_never_served_and_its_row_goes_with_the_next_bump(
        self, live_postgres_only: Live
    ) -> None:
        live = live_postgres_only
        order = await placed_order(live)
        await read(live, order["id"])
        async with live.database.session() as session:
            await session.execute(text("DELETE FROM orders WHERE id = :id"), {"id": order["id"]})
            # Noted as a writer deleting it would note it.
            journal.note(session, journal.ORDER, [order["id"]], listing=False)

        answer = await live.client.get(f"{ORDERS}/{order['id']}", headers=live.headers)
        assert answer.status_code == 404
        assert await stored_row(live, order["id"]) is None

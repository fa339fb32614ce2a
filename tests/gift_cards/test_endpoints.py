"""/api/v1/gift-cards over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.types import utcnow
from shopdb.models import Event, GiftCard
from shopdb.models.discounts import GiftCardTransaction
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.gift_cards.conftest import CARDS, a_customer, create_card


def _problem(response: httpx.Response) -> tuple[int, str, list[str]]:
    body = response.json()
    return response.status_code, body["code"], [d["field"] for d in body["details"]]


def _tomorrow(days: int = 1) -> str:
    return (utcnow() + timedelta(days=days)).date().isoformat()


async def _ledger(session: AsyncSession, card_id: int) -> list[tuple[str, Decimal]]:
    rows = await session.execute(
        select(GiftCardTransaction.kind, GiftCardTransaction.amount)
        .where(GiftCardTransaction.gift_card_id == card_id)
        .order_by(GiftCardTransaction.id)
    )
    return [(kind, Decimal(amount)) for kind, amount in rows]


async def _events(session: AsyncSession, card_id: int) -> list[Event]:
    found = await session.scalars(
        select(Event)
        .where(Event.subject_type == "GiftCard", Event.subject_id == card_id)
        .order_by(Event.id)
    )
    return list(found)


class TestCreate:
    async def test_the_generated_code_is_in_the_creation_response_only(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        response = await client.post(
            CARDS,
            json={"initialValue": "50", "currency": "usd", "note": "for Ava"},
            headers=headers,
        )

        assert response.status_code == 201, response.text
        assert response.headers["cache-control"] == "no-store"
        created = response.json()
        code = created["code"]
        assert re.fullmatch(r"[a-z2-9]{16}", code)
        assert created["lastCharacters"] == code[-4:]
        assert created["maskedCode"] == f"•••• •••• •••• {code[-4:]}"
        assert (created["initialValue"], created["balance"], created["currency"]) == (
            "50.00",
            "50.00",
            "USD",
        )
        assert (created["status"], created["note"], created["expiresOn"]) == (
            "active",
            "for Ava",
            None,
        )
        read = await client.get(f"{CARDS}/{created['id']}", headers=headers)
        listed = await client.get(CARDS, headers=headers)
        assert "code" not in read.json()
        assert code not in read.text
        assert code not in listed.text
        assert read.json() == {k: v for k, v in created.items() if k != "code"}

    async def test_the_database_holds_a_keyed_hash_not_the_code(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_card(client, headers, code="Abcd-Efgh-Jkmn-2345")

        assert created["code"] == "abcdefghjkmn2345"
        [stored] = (
            await db_session.execute(
                text("SELECT code, last_characters FROM gift_cards WHERE id = :id"),
                {"id": created["id"]},
            )
        ).all()
        assert re.fullmatch(r"[0-9a-f]{64}", stored[0])
        assert stored[1] == "2345"
        events = await _events(db_session, created["id"])
        assert [e.topic for e in events] == ["gift_cards/create"]
        assert "abcdefghjkmn" not in str(events[0].body)
        dumped = await db_session.execute(text("SELECT * FROM events"))
        assert "abcdefghjkmn" not in str(dumped.all())

    async def test_a_lookup_by_the_full_code_ignores_case_spaces_and_dashes(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_card(client, headers, code="gift2026card")
        await create_card(client, headers)

        found = await client.post(
            f"{CARDS}/lookup", json={"code": " GIFT-2026 CARD "}, headers=headers
        )
        missed = await client.post(
            f"{CARDS}/lookup", json={"code": "gift2026carx"}, headers=headers
        )
        nonsense = await client.post(f"{CARDS}/lookup", json={"code": "??"}, headers=headers)

        assert found.status_code == 200
        assert found.json()["id"] == created["id"]
        assert _problem(missed) == (404, "NOT_FOUND", ["code"])
        assert _problem(nonsense) == (404, "NOT_FOUND", ["code"])

    async def test_refuses_invalid_input_and_creates_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        await create_card(client, headers, code="takencode1")
        before = await db_session.scalar(select(func.count(GiftCard.id)))
        cases: list[tuple[dict[str, Any], int, str, str]] = [
            ({"code": "short"}, 400, "VALIDATION_ERROR", "code"),
            ({"code": "has_underscore1"}, 400, "VALIDATION_ERROR", "code"),
            ({"code": "a" * 21}, 400, "VALIDATION_ERROR", "code"),
            ({"initialValue": "0"}, 400, "VALIDATION_ERROR", "initialValue"),
            ({"initialValue": "1.001"}, 400, "VALIDATION_ERROR", "initialValue"),
            ({"currency": "US"}, 400, "VALIDATION_ERROR", "currency"),
            ({"expiresOn": utcnow().date().isoformat()}, 400, "VALIDATION_ERROR", "expiresOn"),
            ({"customerId": 987654}, 400, "VALIDATION_ERROR", "customerId"),
            ({"code": "TAKENCODE1"}, 409, "GIFT_CARD_CODE_TAKEN", "code"),
        ]
        for fields, status, code, field in cases:
            body = {"initialValue": "10", "currency": "USD", **fields}
            response = await client.post(CARDS, json=body, headers=headers)
            assert _problem(response) == (status, code, [field]), (fields, response.text)
        assert await db_session.scalar(select(func.count(GiftCard.id))) == before

    async def test_issuing_writes_the_first_ledger_row(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        customer = await a_customer(db_session)

        created = await create_card(
            client, headers, initialValue="25.50", customerId=customer.id, expiresOn=_tomorrow(30)
        )

        assert (created["customerId"], created["expiresOn"]) == (customer.id, _tomorrow(30))
        assert await _ledger(db_session, created["id"]) == [("issue", Decimal("25.50"))]


class TestUpdateAndDisable:
    async def test_changes_expiry_note_and_sets_the_customer_once(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        first, second = await a_customer(db_session), await a_customer(db_session)
        created = await create_card(client, headers)
        url = f"{CARDS}/{created['id']}"

        changed = await client.put(
            url,
            json={"expiresOn": _tomorrow(10), "note": "gift", "customerId": first.id},
            headers={**headers, "If-Match": '"1"'},
        )
        relocked = await client.put(url, json={"customerId": second.id}, headers=headers)
        cleared = await client.put(url, json={"customerId": None}, headers=headers)
        stale = await client.put(url, json={"note": "x"}, headers={**headers, "If-Match": '"1"'})

        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert (body["expiresOn"], body["note"], body["customerId"]) == (
            _tomorrow(10),
            "gift",
            first.id,
        )
        assert (body["version"], changed.headers["etag"]) == (2, '"2"')
        assert _problem(relocked) == (422, "GIFT_CARD_CUSTOMER_LOCKED", ["customerId"])
        assert _problem(cleared) == (422, "GIFT_CARD_CUSTOMER_LOCKED", ["customerId"])
        assert stale.status_code == 412
        after = await client.get(url, headers=headers)
        assert after.json() == body
        update_events = [
            e for e in await _events(db_session, created["id"]) if e.topic.endswith("update")
        ]
        assert [e.body["changed"] for e in update_events] == [["expiresOn", "note", "customerId"]]

    async def test_the_code_value_and_currency_do_not_change(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_card(client, headers)

        response = await client.put(
            f"{CARDS}/{created['id']}",
            json={"code": "anothercode", "initialValue": "5", "currency": "EUR"},
            headers=headers,
        )

        assert response.status_code == 200
        assert response.json() == {k: v for k, v in created.items() if k != "code"}

    async def test_disabling_is_final_and_stops_adjustments(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_card(client, headers)
        url = f"{CARDS}/{created['id']}"

        disabled = await client.post(f"{url}/disable", headers=headers)
        twice = await client.post(f"{url}/disable", headers=headers)
        adjusted = await client.post(
            f"{url}/adjustments", json={"amount": "5", "reason": "goodwill"}, headers=headers
        )

        assert disabled.status_code == 200
        assert (disabled.json()["status"], disabled.json()["version"]) == ("disabled", 2)
        assert disabled.json()["disabledAt"] is not None
        assert twice.json() == disabled.json()
        assert _problem(adjusted) == (422, "GIFT_CARD_DISABLED", ["id"])
        assert await _ledger(db_session, created["id"]) == [("issue", Decimal("100.00"))]
        topics = [e.topic for e in await _events(db_session, created["id"])]
        assert topics == ["gift_cards/create", "gift_cards/disable"]


class TestAdjustments:
    async def test_adjusts_up_and_down_and_the_ledger_adds_up(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_card(client, headers, initialValue="20.00")
        url = f"{CARDS}/{created['id']}"

        down = await client.post(
            f"{url}/adjustments",
            json={"amount": "-7.25", "reason": "correction", "note": "typo at issue"},
            headers=headers,
        )
        up = await client.post(
            f"{url}/adjustments", json={"amount": "30", "reason": "goodwill"}, headers=headers
        )
        ledger = await client.get(
            f"{url}/transactions", params={"withTotal": True}, headers=headers
        )

        assert down.status_code == 201, down.text
        assert down.json()["giftCard"]["balance"] == "12.75"
        assert down.json()["transaction"]["amount"] == "-7.25"
        assert (down.json()["transaction"]["reason"], down.json()["transaction"]["note"]) == (
            "correction",
            "typo at issue",
        )
        # Above the initial value: as Shopify's credits may.
        assert up.json()["giftCard"]["balance"] == "42.75"
        assert up.json()["giftCard"]["initialValue"] == "20.00"
        items = ledger.json()["items"]
        assert ledger.json()["totalCount"] == 3
        assert [(i["kind"], i["amount"]) for i in items] == [
            ("issue", "20.00"),
            ("adjustment", "-7.25"),
            ("adjustment", "30.00"),
        ]
        assert sum(Decimal(i["amount"]) for i in items) == Decimal("42.75")

    async def test_below_zero_is_refused_and_changes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_card(client, headers, initialValue="10.00")
        url = f"{CARDS}/{created['id']}"

        below = await client.post(
            f"{url}/adjustments", json={"amount": "-10.01", "reason": "x"}, headers=headers
        )
        zero = await client.post(
            f"{url}/adjustments", json={"amount": "0", "reason": "x"}, headers=headers
        )
        no_reason = await client.post(f"{url}/adjustments", json={"amount": "1"}, headers=headers)
        to_zero = await client.post(
            f"{url}/adjustments", json={"amount": "-10", "reason": "spent"}, headers=headers
        )

        assert _problem(below) == (422, "GIFT_CARD_INSUFFICIENT_FUNDS", ["amount"])
        assert _problem(zero) == (400, "VALIDATION_ERROR", ["amount"])
        assert _problem(no_reason) == (400, "VALIDATION_ERROR", ["reason"])
        assert to_zero.json()["giftCard"]["balance"] == "0.00"
        assert await _ledger(db_session, created["id"]) == [
            ("issue", Decimal("10.00")),
            ("adjustment", Decimal("-10.00")),
        ]

    async def test_the_balance_stays_within_what_the_column_holds(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_card(client, headers, initialValue="99999999.00")

        response = await client.post(
            f"{CARDS}/{created['id']}/adjustments",
            json={"amount": "1.00", "reason": "x"},
            headers=headers,
        )

        assert _problem(response) == (422, "GIFT_CARD_LIMIT_EXCEEDED", ["amount"])

    async def test_a_retried_adjustment_is_applied_once(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_card(client, headers)
        keyed = {**headers, "Idempotency-Key": "adjust-once"}
        url = f"{CARDS}/{created['id']}/adjustments"

        first = await client.post(url, json={"amount": "-5", "reason": "x"}, headers=keyed)
        second = await client.post(url, json={"amount": "-5", "reason": "x"}, headers=keyed)

        assert second.json() == first.json()
        assert second.headers.get("idempotent-replayed") == "true"
        assert await _ledger(db_session, created["id"]) == [
            ("issue", Decimal("100.00")),
            ("adjustment", Decimal("-5.00")),
        ]

    async def test_an_unknown_card_is_404(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        adjusted = await client.post(
            f"{CARDS}/987654/adjustments", json={"amount": "1", "reason": "x"}, headers=headers
        )
        ledger = await client.get(f"{CARDS}/987654/transactions", headers=headers)
        assert (adjusted.status_code, ledger.status_code) == (404, 404)


class TestList:
    async def test_filters_by_status_customer_and_last_characters(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        customer = await a_customer(db_session)
        active = await create_card(client, headers, code="activecard01", customerId=customer.id)
        disabled = await create_card(client, headers, code="disabledcard")
        expired = await create_card(client, headers, code="expiredcard1")
        await client.post(f"{CARDS}/{disabled['id']}/disable", headers=headers)
        card = await db_session.get(GiftCard, expired["id"])
        assert card is not None
        card.expires_at = utcnow() - timedelta(seconds=1)
        await db_session.flush()

        async def ids(**params: Any) -> list[int]:
            response = await client.get(CARDS, params=params, headers=headers)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        assert await ids() == [active["id"], disabled["id"], expired["id"]]
        assert await ids(status="active") == [active["id"]]
        assert await ids(status="disabled") == [disabled["id"]]
        assert await ids(status="expired") == [expired["id"]]
        assert await ids(customerId=customer.id) == [active["id"]]
        assert await ids(lastCharacters="ARD1") == [expired["id"]]

    async def test_a_page_costs_the_same_statements_whatever_its_size(
        self, backend: Backend, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        for _ in range(12):
            await create_card(client, headers)
        await client.get(CARDS, params={"pageSize": 1}, headers=headers)

        with statements_sent(backend.engine, first_word=True) as small:
            await client.get(CARDS, params={"pageSize": 2}, headers=headers)
        with statements_sent(backend.engine, first_word=True) as large:
            page = await client.get(CARDS, params={"pageSize": 12}, headers=headers)

        assert len(page.json()["items"]) == 12
        assert small == large
        assert [s for s in large if s == "SELECT"] == ["SELECT"]

"""`state` is read-only: it changes through invite, activate and disable, Shopify's transitions."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.customers import actions
from shopdb.customers.errors import CustomerStateTransition
from shopdb.db import Database
from shopdb.kit.crypto import FieldCipher
from shopdb.models import Customer, Event
from tests.customers.conftest import CUSTOMERS, create_customer

ACTOR = Subject("user", 1, frozenset({"customers:read", "customers:write"}))


async def _act(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    customer_id: int,
    action: str,
    **extra: str,
) -> httpx.Response:
    return await client.post(f"{CUSTOMERS}/{customer_id}/{action}", headers={**headers, **extra})


async def _state(client: httpx.AsyncClient, headers: dict[str, str], customer_id: int) -> Any:
    body = (await client.get(f"{CUSTOMERS}/{customer_id}", headers=headers)).json()
    return body["state"], body["version"]


class TestReadOnly:
    async def test_state_in_a_body_is_accepted_and_ignored(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers, state="invited")

        updated = await client.put(
            f"{CUSTOMERS}/{created['id']}",
            json={"state": "disabled", "note": "x"},
            headers=headers,
        )

        assert created["state"] == "enabled"
        assert updated.status_code == 200
        assert updated.json()["state"] == "enabled"


class TestTransitions:
    async def test_the_whole_life_of_an_account(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers)  # enabled
        steps = ["disable", "invite", "activate", "disable", "activate", "disable", "invite"]

        states = []
        for action in steps:
            response = await _act(client, headers, created["id"], action)
            assert response.status_code == 200, response.text
            states.append((response.json()["state"], response.headers["etag"]))

        assert states == [
            ("disabled", '"2"'),
            ("invited", '"3"'),
            ("enabled", '"4"'),
            ("disabled", '"5"'),
            ("enabled", '"6"'),
            ("disabled", '"7"'),
            ("invited", '"8"'),
        ]

    @pytest.mark.parametrize(
        ("setup", "action", "state"),
        [
            ([], "invite", "enabled"),
            ([], "activate", "enabled"),
            (["disable"], "disable", "disabled"),
            (["disable", "invite"], "invite", "invited"),
        ],
        ids=["invite-enabled", "activate-enabled", "disable-disabled", "invite-invited"],
    )
    async def test_an_impossible_transition_is_409_naming_the_state_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        setup: list[str],
        action: str,
        state: str,
    ) -> None:
        created = await create_customer(client, headers)
        for step in setup:
            await _act(client, headers, created["id"], step)
        before = await _state(client, headers, created["id"])

        response = await _act(client, headers, created["id"], action)

        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "CUSTOMER_STATE_TRANSITION"
        assert body["details"][0]["field"] == "state"
        assert body["details"][0]["message"].startswith(f"is {state};")
        assert f"is {state}" in body["message"]
        assert await _state(client, headers, created["id"]) == before

    async def test_declined_can_be_invited_again_or_disabled_but_not_activated(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_customer(client, headers)
        row = await db_session.get(Customer, created["id"])
        assert row is not None
        row.state = "declined"  # only the customer can decline an invitation
        await db_session.flush()

        activate = await _act(client, headers, created["id"], "activate")
        invite = await _act(client, headers, created["id"], "invite")

        assert activate.status_code == 409
        assert invite.status_code == 200
        assert invite.json()["state"] == "invited"

    async def test_unknown_customer(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        assert (await _act(client, headers, 999_999, "disable")).status_code == 404


class TestConcurrencyAndEvents:
    async def test_a_stale_if_match_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers)
        await client.put(f"{CUSTOMERS}/{created['id']}", json={"note": "v2"}, headers=headers)

        stale = await _act(client, headers, created["id"], "disable", **{"If-Match": '"1"'})
        fresh = await _act(client, headers, created["id"], "disable", **{"If-Match": '"2"'})

        assert stale.status_code == 412
        assert fresh.status_code == 200
        assert await _state(client, headers, created["id"]) == ("disabled", 3)

    async def test_each_transition_records_an_event(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_customer(client, headers)
        for action in ("disable", "invite", "activate"):
            await _act(client, headers, created["id"], action)
        await _act(client, headers, created["id"], "activate")  # refused: no event

        events = list(
            await db_session.scalars(
                select(Event)
                .where(
                    Event.subject_type == "Customer",
                    Event.subject_id == created["id"],
                    Event.topic.in_(["customers/disable", "customers/invite", "customers/enable"]),
                )
                .order_by(Event.id)
            )
        )
        assert [(e.topic, e.body) for e in events] == [
            (
                "customers/disable",
                {"id": created["id"], "state": "disabled", "previousState": "enabled"},
            ),
            (
                "customers/invite",
                {"id": created["id"], "state": "invited", "previousState": "disabled"},
            ),
            (
                "customers/enable",
                {"id": created["id"], "state": "enabled", "previousState": "invited"},
            ),
        ]


@pytest.mark.postgres_only
class TestRacingActions:
    async def test_racing_invites_invite_once(self, live_postgres: Database, tmp_path: Any) -> None:
        from shopdb.keys import field_cipher
        from tests.fixtures.database import test_settings

        cipher: FieldCipher = field_cipher(test_settings("sqlite://", tmp_path))
        run = uuid.uuid4().hex[:8]
        async with live_postgres.session() as session:
            customer = Customer(
                email=cipher.encrypt(f"{run}@example.com", context="customers.email"),
                email_hash=f"hash-{run}",
                state="disabled",
                tag_rows=[],
                addresses=[],
                group_memberships=[],
            )
            session.add(customer)
            await session.flush()
            customer_id = customer.id
        start = asyncio.Event()

        async def invite() -> str:
            async with live_postgres.session() as session:
                await start.wait()
                try:
                    await actions.change_state(
                        session, cipher, ACTOR, customer_id, "invite", if_match=None, via="test"
                    )
                except CustomerStateTransition as refused:
                    return refused.current_state
                return "invited now"

        racing = [asyncio.create_task(invite()) for _ in range(8)]
        await asyncio.sleep(0.05)
        start.set()
        outcomes = await asyncio.gather(*racing)

        assert sorted(outcomes) == ["invited"] * 7 + ["invited now"]
        async with live_postgres.session() as session:
            version = await session.scalar(
                select(Customer.version).where(Customer.id == customer_id)
            )
            events = await session.scalar(
                select(func.count(Event.id)).where(
                    Event.topic == "customers/invite", Event.subject_id == customer_id
                )
            )
        assert (version, events) == (2, 1)

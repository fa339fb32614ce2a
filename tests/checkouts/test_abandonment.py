"""Abandoned checkouts on SQLite and PostgreSQL: the job marks checkouts left alone too long
(time travel by moving updated_at, or by injecting `now`), writes both seed tables in step,
lists them with filters and cursors, and a completion later recovers them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from shopdb.checkouts.abandonment import (
    ENHANCED_EMAIL,
    MARK_ABANDONED,
    MIRROR_EMAIL,
    mark_abandoned_checkouts,
)
from shopdb.checkouts.repository import ENHANCED, MIRROR
from shopdb.checkouts.settings import CheckoutSettings
from shopdb.db import Database
from shopdb.jobs.kinds import CHECKOUTS_MARK_ABANDONED
from shopdb.keys import field_cipher
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.types import utcnow
from shopdb.models import Job
from shopdb.services import services_of
from tests.checkouts.conftest import Live
from tests.checkouts.helpers import (
    ABANDONED,
    CHECKOUTS,
    age,
    checkout_body,
    complete,
    create,
    enhanced_rows,
    make_due,
    mirror_rows,
    stored,
)
from tests.fixtures.catalog import Headers
from tests.fixtures.queries import statements_sent
from tests.jobs.helpers import make_worker
from tests.orders.helpers import make_locations, make_variant

SHOP = CheckoutSettings(storefront_url="https://shop.example/")


async def run_abandonment(app: FastAPI, database: Database) -> int:
    async with database.session() as session:
        await make_due(session)
    worker = make_worker(database, services_of(app).settings, [MARK_ABANDONED])
    return await worker.run_due()


async def tables_agree(database: Database, cipher: FieldCipher) -> int:
    """Every abandoned checkout has one row in each table, and they say the same; how many."""
    async with database.session() as session:
        enhanced = {r.token: r for r in (await session.execute(select(ENHANCED))).all()}
        mirror = {r.token: r for r in (await session.execute(select(MIRROR))).all()}
    assert set(enhanced) == set(mirror)
    for token, full in enhanced.items():
        short = mirror[token]
        assert cipher.decrypt(full.email, context=ENHANCED_EMAIL) == cipher.decrypt(
            short.email, context=MIRROR_EMAIL
        )
        assert full.email_hash == short.email_hash
        assert (full.customer_id, full.total_price, full.currency) == (
            short.customer_id,
            short.total_price,
            short.currency,
        )
        assert full.completed_at == short.recovered_at
        assert full.created_at == short.created_at
    return len(enhanced)


class TestMarking:
    async def test_the_job_marks_checkouts_idle_past_the_limit_and_no_others(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "12.50", {loc: 10})
        old = await create(client, admin, checkout_body((tee.variant_id, 2)))
        fresh = await create(client, admin, checkout_body((tee.variant_id, 1)))
        async with database.session() as session:
            await age(session, old["token"])

        ran = await run_abandonment(app, database)

        assert ran == 2  # each checkout's own check
        cipher = field_cipher(services_of(app).settings)
        async with database.session() as session:
            marked = await stored(session, old["token"])
            assert marked.abandoned_at is not None
            assert (await stored(session, fresh["token"])).abandoned_at is None
            (full,) = await enhanced_rows(session, old["token"])
            (short,) = await mirror_rows(session, old["token"])
            assert await enhanced_rows(session, fresh["token"]) == []
            # The fresh checkout's check comes back when it would be due.
            fresh_row = await stored(session, fresh["token"])
            (again,) = (
                await session.scalars(
                    select(Job).where(
                        Job.kind == CHECKOUTS_MARK_ABANDONED.name,
                        Job.status == "queued",
                        Job.payload["checkoutId"].as_integer() == fresh_row.id,
                    )
                )
            ).all()
            assert again.run_after == fresh_row.updated_at + timedelta(hours=10)
        assert short.abandoned_at == marked.abandoned_at
        assert short.recovered_at is None
        assert full.completed_at is None
        assert str(full.total_price) == "25.00"
        assert full.line_items[0]["variantId"] == tee.variant_id
        assert full.abandoned_checkout_url.endswith(f"/checkouts/{old['token']}/recover")
        # Personal data stays sealed in both tables.
        assert "buyer" not in full.email
        assert "buyer" not in short.email
        assert full.email_hash == cipher.blind_index("buyer@example.com")
        assert await tables_agree(database, cipher) == 1

        read = (await client.get(f"{CHECKOUTS}/{old['token']}", headers=admin)).json()
        assert read["abandonedAt"] is not None

    async def test_marking_is_by_injected_time_and_happens_once(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "3.00", {loc: 10})
        checkout = await create(client, admin, checkout_body((tee.variant_id, 1)))
        cipher = field_cipher(services_of(app).settings)
        now = utcnow()

        async with database.session() as session:
            early = await mark_abandoned_checkouts(
                session, cipher, SHOP, now=now + timedelta(hours=9, minutes=59)
            )
        async with database.session() as session:
            due = await mark_abandoned_checkouts(
                session, cipher, SHOP, now=now + timedelta(hours=10, seconds=1)
            )
        async with database.session() as session:
            twice = await mark_abandoned_checkouts(
                session, cipher, SHOP, now=now + timedelta(hours=12)
            )

        assert early == []
        assert len(due) == 1
        assert twice == []
        async with database.session() as session:
            (full,) = await enhanced_rows(session, checkout["token"])
            assert len(await mirror_rows(session, checkout["token"])) == 1
        assert full.abandoned_checkout_url == (
            f"https://shop.example/checkouts/{checkout['token']}/recover"
        )

    async def test_an_abandoned_checkout_updated_later_keeps_both_tables_in_step(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "4.00", {loc: 10})
        checkout = await create(client, admin, checkout_body((tee.variant_id, 1)))
        async with database.session() as session:
            await age(session, checkout["token"])
        await run_abandonment(app, database)

        response = await client.put(
            f"{CHECKOUTS}/{checkout['token']}",
            json={
                "lineItems": [{"variantId": tee.variant_id, "quantity": 5}],
                "email": "new@example.com",
            },
            headers=admin,
        )

        assert response.status_code == 200, response.text
        cipher = field_cipher(services_of(app).settings)
        async with database.session() as session:
            (full,) = await enhanced_rows(session, checkout["token"])
            (short,) = await mirror_rows(session, checkout["token"])
        assert str(full.total_price) == str(short.total_price) == "20.00"
        assert cipher.decrypt(short.email, context=MIRROR_EMAIL) == "new@example.com"
        assert await tables_agree(database, cipher) == 1


class TestRecovery:
    async def test_completing_an_abandoned_checkout_recovers_it_in_both_tables(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "8.00", {loc: 10})
        checkout = await create(client, admin, checkout_body((tee.variant_id, 1)))
        async with database.session() as session:
            await age(session, checkout["token"])
        await run_abandonment(app, database)

        response = await complete(client, admin, checkout["token"])

        assert response.status_code == 201, response.text
        async with database.session() as session:
            row = await stored(session, checkout["token"])
            (full,) = await enhanced_rows(session, checkout["token"])
            (short,) = await mirror_rows(session, checkout["token"])
        assert row.recovered_at is not None
        assert row.recovered_at == row.completed_at == full.completed_at == short.recovered_at
        assert row.order_id == response.json()["id"]
        assert await tables_agree(database, field_cipher(services_of(app).settings)) == 1
        recovered = (
            await client.get(ABANDONED, params={"status": "recovered"}, headers=admin)
        ).json()
        still_open = (await client.get(ABANDONED, params={"status": "open"}, headers=admin)).json()
        assert [c["token"] for c in recovered["items"]] == [checkout["token"]]
        assert recovered["items"][0]["status"] == "recovered"
        assert still_open["items"] == []

    async def test_a_checkout_completed_in_time_is_never_abandoned(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "8.00", {loc: 10})
        checkout = await create(client, admin, checkout_body((tee.variant_id, 1)))
        assert (await complete(client, admin, checkout["token"])).status_code == 201
        async with database.session() as session:
            await age(session, checkout["token"])

        await run_abandonment(app, database)

        async with database.session() as session:
            row = await stored(session, checkout["token"])
            assert (row.abandoned_at, row.recovered_at) == (None, None)
            assert await enhanced_rows(session, checkout["token"]) == []


class TestListing:
    async def _abandon(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database, n: int
    ) -> list[dict[str, Any]]:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "2.00", {loc: 100})
        made = [
            await create(client, admin, checkout_body((tee.variant_id, q + 1))) for q in range(n)
        ]
        async with database.session() as session:
            for checkout in made:
                await age(session, checkout["token"])
        await run_abandonment(app, database)
        return made

    async def test_pages_by_cursor_with_no_total_unless_asked(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        made = await self._abandon(app, client, admin, database, 3)

        first = await client.get(ABANDONED, params={"pageSize": 2}, headers=admin)
        assert first.status_code == 200, first.text
        page = first.json()
        second = (
            await client.get(
                ABANDONED, params={"pageSize": 2, "cursor": page["nextCursor"]}, headers=admin
            )
        ).json()
        counted = (await client.get(ABANDONED, params={"withTotal": "true"}, headers=admin)).json()

        tokens = [c["token"] for c in page["items"] + second["items"]]
        assert tokens == [c["token"] for c in made]
        assert page["totalCount"] is None
        assert second["nextCursor"] is None
        assert counted["totalCount"] == 3
        item = page["items"][0]
        assert item["status"] == "open"
        assert item["email"] == "buyer@example.com"
        assert item["totalPrice"] == "2.00"
        assert item["recoveryUrl"].endswith(f"/checkouts/{made[0]['token']}/recover")

    async def test_filters_by_created_and_updated_times(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        made = await self._abandon(app, client, admin, database, 2)
        later = (utcnow() + timedelta(minutes=5)).isoformat()
        earlier = (utcnow() - timedelta(days=1)).isoformat()

        none_after = (
            await client.get(ABANDONED, params={"createdAtMin": later}, headers=admin)
        ).json()
        all_before = (
            await client.get(ABANDONED, params={"createdAtMax": later}, headers=admin)
        ).json()
        # Their last update was 11 hours ago (the time travel).
        updated = (
            await client.get(
                ABANDONED,
                params={
                    "updatedAtMin": earlier,
                    "updatedAtMax": (utcnow() - timedelta(hours=10)).isoformat(),
                },
                headers=admin,
            )
        ).json()

        assert none_after["items"] == []
        assert [c["token"] for c in all_before["items"]] == [c["token"] for c in made]
        assert [c["token"] for c in updated["items"]] == [c["token"] for c in made]

    async def test_a_page_is_one_query_after_authentication(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        await self._abandon(app, client, admin, database, 3)
        await client.get(ABANDONED, headers=admin)  # warm the caller's access
        engine = services_of(app).database.primary

        with statements_sent(engine, first_word=True) as sent:
            response = await client.get(
                ABANDONED, params={"pageSize": 2, "status": "open"}, headers=admin
            )

        assert response.status_code == 200
        assert len(response.json()["items"]) == 2
        assert sent.count("SELECT") == 1, sent

    async def test_listing_needs_orders_read(
        self, client: httpx.AsyncClient, token_for: Any
    ) -> None:
        refused = await client.get(ABANDONED, headers=token_for("products:read"))
        assert refused.status_code == 403


@pytest.mark.postgres_only
class TestConcurrentMarking:
    async def test_sweeps_running_at_once_mark_each_checkout_once(self, live: Live) -> None:
        if live.database.primary.dialect.name == "sqlite":
            pytest.skip("needs real concurrent transactions")
        (loc,) = await make_locations(live.database, "Main")
        tee = await make_variant(live.database, "1.00", {loc: 100})
        made = [
            await create(live.client, live.headers, checkout_body((tee.variant_id, 1)))
            for _ in range(6)
        ]
        async with live.database.session() as session:
            for checkout in made:
                await age(session, checkout["token"])
        cipher = field_cipher(services_of(live.app).settings)

        async def sweep() -> list[int]:
            async with live.database.session() as session:
                return await mark_abandoned_checkouts(session, cipher, SHOP)

        results = await asyncio.gather(*(sweep() for _ in range(4)))

        marked = [i for batch in results for i in batch]
        assert len(marked) == len(set(marked)) == 6
        async with live.database.session() as session:
            tokens = [c["token"] for c in made]
            for table in (ENHANCED, MIRROR):
                found = await session.scalar(
                    select(func.count()).select_from(table).where(table.c.token.in_(tokens))
                )
                assert found == 6
        assert await tables_agree(live.database, cipher) >= 6

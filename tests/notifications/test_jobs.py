"""The notification jobs on SQLite and PostgreSQL: the change queues the job in its own
transaction, the worker renders it from the database and sends it (here: the development
backend's .eml and .sms files under the test's var/), or skips or fails it as it should."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from shopdb.checkouts.abandonment import MARK_ABANDONED
from shopdb.config import Settings
from shopdb.db import Database
from shopdb.jobs.kinds import (
    CHECKOUTS_RECOVERY_EMAIL,
    GIFT_CARDS_ISSUED_EMAIL,
    ORDERS_CONFIRMATION_EMAIL,
    ORDERS_SHIPPING_CONFIRMATION_EMAIL,
    REFUNDS_NOTIFICATION_EMAIL,
)
from shopdb.jobs.queue import enqueue
from shopdb.models import Job
from shopdb.notifications.jobs import REGISTRATIONS
from shopdb.notifications.mail import file_name
from shopdb.services import services_of
from tests.checkouts.helpers import age, checkout_body, complete, create, make_due
from tests.fixtures.catalog import Headers
from tests.jobs.helpers import make_worker
from tests.notifications.conftest import SmtpServer
from tests.notifications.test_backends import free_port
from tests.orders.helpers import ORDERS, make_locations, make_variant, order_body, place

HOSTILE_FIRST = "<img src=x onerror=alert(1)>"
HOSTILE_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def settings_of(app: FastAPI) -> Settings:
    return services_of(app).settings


async def run_notifications(app: FastAPI, *, with_abandonment: bool = False) -> int:
    registrations = [*REGISTRATIONS, *([MARK_ABANDONED] if with_abandonment else [])]
    worker = make_worker(services_of(app).database, settings_of(app), registrations)
    return await worker.run_due()


async def the_job(database: Database, kind: str, key: str, value: Any) -> Job:
    async with database.session() as session:
        (job,) = (
            await session.scalars(
                select(Job).where(
                    Job.kind == kind,
                    (
                        Job.payload[key].as_string()
                        if isinstance(value, str)
                        else Job.payload[key].as_integer()
                    )
                    == value,
                )
            )
        ).all()
        return job


async def reread(database: Database, job_id: int) -> Job:
    async with database.session() as session:
        job = await session.get(Job, job_id, populate_existing=True)
        assert job is not None
        return job


def eml_path(settings: Settings, template: str, job_id: int) -> Path:
    return settings.var_dir / "mail" / file_name(f"<{template}.{job_id}@localhost>", ".eml")


def sms_path(settings: Settings, template: str, job_id: int) -> Path:
    return settings.var_dir / "sms" / file_name(f"{template}.{job_id}", ".sms")


def forget(*paths: Path) -> None:
    """The var/ of a run is shared by both databases, whose job ids repeat: start clean."""
    for path in paths:
        path.unlink(missing_ok=True)


def read_eml(path: Path) -> tuple[EmailMessage, str, str]:
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    return parsed, str(text.get_content()), str(html.get_content())


async def make_customer(client: httpx.AsyncClient, headers: Headers, **fields: Any) -> int:
    body = {"email": "ann@example.com", "firstName": HOSTILE_FIRST, "lastName": "Lee", **fields}
    response = await client.post("/api/v1/customers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    customer_id: int = response.json()["id"]
    return customer_id


async def placed(client: httpx.AsyncClient, headers: Headers, body: dict[str, Any]) -> Any:
    response = await place(client, headers, body)
    assert response.status_code == 201, response.text
    return response.json()


class TestOrderConfirmation:
    async def test_the_placed_order_is_emailed_with_its_lines_and_totals(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "19.99", {loc: 10})
        mug = await make_variant(database, "7.50", {loc: 10}, title="Mug")
        customer_id = await make_customer(client, admin)
        order = await placed(
            client,
            admin,
            order_body((tee.variant_id, 2), (mug.variant_id, 1), customerId=customer_id),
        )
        job = await the_job(database, ORDERS_CONFIRMATION_EMAIL.name, "orderId", order["id"])
        path = eml_path(settings_of(app), "order_confirmation", job.id)
        forget(path)

        assert await run_notifications(app) == 1

        done = await reread(database, job.id)
        assert done.status == "completed"
        assert done.result == {"sent": True, "template": "order_confirmation"}
        message, text, html = read_eml(path)
        assert message["To"] == "buyer@example.com"
        assert message["Subject"] == f"shopdb: order {order['number']} confirmed"
        assert message["Message-ID"] == f"<order_confirmation.{job.id}@localhost>"
        assert text.startswith(f"Hello {HOSTILE_FIRST} Lee,\n\n")
        assert f"Thank you for your order {order['number']}." in text
        assert "2 x Tee: 39.98 USD" in text
        assert "1 x Mug: 7.50 USD" in text
        assert "Total: 47.48 USD" in text
        assert f"Hello {HOSTILE_ESCAPED} Lee," in html
        assert "<img" not in html
        assert "47.48 USD" in html

    async def test_without_a_customer_the_billing_address_names_the_buyer(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "5.00", {loc: 10})
        order = await placed(
            client,
            admin,
            order_body(
                (tee.variant_id, 1), billingAddress={"firstName": "Bo", "lastName": "<Diddley>"}
            ),
        )
        job = await the_job(database, ORDERS_CONFIRMATION_EMAIL.name, "orderId", order["id"])
        path = eml_path(settings_of(app), "order_confirmation", job.id)
        forget(path)

        await run_notifications(app)

        _, text, html = read_eml(path)
        assert text.startswith("Hello Bo <Diddley>,\n\n")
        assert "Hello Bo &lt;Diddley&gt;," in html

    async def test_an_order_that_does_not_exist_fails_the_job_at_once(
        self, app: FastAPI, database: Database
    ) -> None:
        async with database.session() as session:
            job = await enqueue(session, ORDERS_CONFIRMATION_EMAIL, {"orderId": 987654321})
        path = eml_path(settings_of(app), "order_confirmation", job.id)
        forget(path)

        await run_notifications(app)

        failed = await reread(database, job.id)
        assert failed.status == "failed"
        assert failed.attempts == 1
        assert failed.error == ORDERS_CONFIRMATION_EMAIL.failure_message
        assert not path.exists()


class TestShippingConfirmation:
    async def test_a_notified_fulfillment_is_emailed_and_texted_with_its_tracking(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        customer_id = await make_customer(
            client,
            admin,
            phone="+1 555 010 9999",
            smsMarketingConsent={"state": "subscribed"},
        )
        order = await placed(client, admin, order_body((tee.variant_id, 3), customerId=customer_id))
        line_id = order["lineItems"][0]["id"]
        response = await client.post(
            f"{ORDERS}/{order['id']}/fulfillments",
            json={
                "lineItems": [{"id": line_id, "quantity": 2}],
                "trackingCompany": "UPS",
                "trackingNumbers": ["1Z999"],
                "trackingUrls": ["https://ups.example/1Z999"],
                "notifyCustomer": True,
            },
            headers=admin,
        )
        assert response.status_code == 201, response.text
        job = await the_job(
            database, ORDERS_SHIPPING_CONFIRMATION_EMAIL.name, "orderId", order["id"]
        )
        path = eml_path(settings_of(app), "shipping_confirmation", job.id)
        text_path = sms_path(settings_of(app), "shipping_confirmation", job.id)
        forget(path, text_path)

        await run_notifications(app)

        done = await reread(database, job.id)
        assert done.status == "completed"
        assert done.result == {"sent": True, "template": "shipping_confirmation", "sms": True}
        message, text, html = read_eml(path)
        assert message["Subject"] == f"shopdb: order {order['number']} is on its way"
        assert "2 x Tee: 20.00 USD" in text
        assert "Carrier: UPS" in text
        assert "Tracking number: 1Z999" in text
        assert '<a href="https://ups.example/1Z999">' in html
        sms = text_path.read_text()
        assert sms.startswith("To: +1")
        assert sms.endswith(f"shopdb: your order {order['number']} has shipped. Tracking: 1Z999")

    async def test_a_customer_without_sms_consent_gets_no_text(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        customer_id = await make_customer(client, admin, phone="+1 555 010 9999")
        order = await placed(client, admin, order_body((tee.variant_id, 1), customerId=customer_id))
        response = await client.post(
            f"{ORDERS}/{order['id']}/fulfillments", json={"notifyCustomer": True}, headers=admin
        )
        assert response.status_code == 201, response.text
        job = await the_job(
            database, ORDERS_SHIPPING_CONFIRMATION_EMAIL.name, "orderId", order["id"]
        )
        text_path = sms_path(settings_of(app), "shipping_confirmation", job.id)
        forget(text_path)

        await run_notifications(app)

        done = await reread(database, job.id)
        assert done.result == {"sent": True, "template": "shipping_confirmation"}
        assert not text_path.exists()


class TestRefund:
    async def test_a_refund_is_emailed_with_its_amount_and_items(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, order_body((tee.variant_id, 3)))
        line_id = order["lineItems"][0]["id"]
        response = await client.post(
            f"{ORDERS}/{order['id']}/refunds",
            json={
                "refundLineItems": [{"lineItemId": line_id, "quantity": 2, "restockType": "cancel"}]
            },
            headers=admin,
        )
        assert response.status_code == 201, response.text
        refund = response.json()
        # What the refund service queues when the refund asks to notify the customer.
        async with database.session() as session:
            job = await enqueue(
                session,
                REFUNDS_NOTIFICATION_EMAIL,
                {"orderId": order["id"], "refundId": refund["id"]},
            )
        path = eml_path(settings_of(app), "refund", job.id)
        forget(path)

        await run_notifications(app)

        assert (await reread(database, job.id)).status == "completed"
        message, text, html = read_eml(path)
        assert message["Subject"] == f"shopdb: refund for order {order['number']}"
        assert f"We have refunded 20.00 USD for your order {order['number']}." in text
        assert "2 x Tee: 20.00 USD" in text
        assert "<strong>20.00 USD</strong>" in html


class TestCheckoutRecovery:
    async def test_marking_a_checkout_abandoned_emails_its_recovery_link(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "12.50", {loc: 10})
        checkout = await create(
            client,
            admin,
            checkout_body((tee.variant_id, 2), shippingAddress={"firstName": "Cy"}),
        )
        async with database.session() as session:
            await age(session, checkout["token"])
            await make_due(session)

        await run_notifications(app, with_abandonment=True)

        job = await the_job(database, CHECKOUTS_RECOVERY_EMAIL.name, "token", checkout["token"])
        assert job.status == "completed"
        assert isinstance(job.payload["checkoutId"], int)
        message, text, html = read_eml(eml_path(settings_of(app), "checkout_recovery", job.id))
        assert message["To"] == "buyer@example.com"
        url = f"http://localhost:8000/checkouts/{checkout['token']}/recover"
        assert text.startswith("Hello Cy,\n\n")
        assert "2 x Tee: 25.00 USD" in text
        assert f"Complete your purchase: {url}" in text
        assert f'<a href="{url}">' in html

    async def test_a_checkout_completed_before_its_email_goes_gets_none(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "4.00", {loc: 10})
        checkout = await create(client, admin, checkout_body((tee.variant_id, 1)))
        async with database.session() as session:
            await age(session, checkout["token"])
            await make_due(session)
        marker = make_worker(services_of(app).database, settings_of(app), [MARK_ABANDONED])
        await marker.run_due()
        job = await the_job(database, CHECKOUTS_RECOVERY_EMAIL.name, "token", checkout["token"])
        path = eml_path(settings_of(app), "checkout_recovery", job.id)
        forget(path)
        assert (await complete(client, admin, checkout["token"])).status_code == 201

        await run_notifications(app)

        done = await reread(database, job.id)
        assert done.status == "completed"
        assert done.result == {"sent": False, "skipped": "checkout completed"}
        assert not path.exists()


class TestGiftCard:
    async def test_a_card_issued_to_a_customer_emails_its_code_kept_sealed_meanwhile(
        self,
        sealing_cipher: None,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
    ) -> None:
        customer_id = await make_customer(client, admin)
        response = await client.post(
            "/api/v1/gift-cards",
            json={
                "code": "abcd-efgh-jkmn-pqrs",
                "initialValue": "50.00",
                "currency": "USD",
                "customerId": customer_id,
            },
            headers=admin,
        )
        assert response.status_code == 201, response.text
        card = response.json()
        job = await the_job(database, GIFT_CARDS_ISSUED_EMAIL.name, "giftCardId", card["id"])
        assert "abcd" not in str(job.payload).lower()
        path = eml_path(settings_of(app), "gift_card_issued", job.id)
        forget(path)

        await run_notifications(app)

        assert (await reread(database, job.id)).status == "completed"
        message, text, html = read_eml(path)
        assert message["To"] == "ann@example.com"
        assert message["Subject"] == "shopdb: your 50.00 USD gift card"
        assert "Gift card code: ABCD EFGH JKMN PQRS" in text
        assert '<strong class="code">ABCD EFGH JKMN PQRS</strong>' in html
        assert f"Hello {HOSTILE_ESCAPED} Lee," in html

    async def test_a_card_without_a_customer_queues_no_email(
        self, sealing_cipher: None, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        response = await client.post(
            "/api/v1/gift-cards", json={"initialValue": "5.00", "currency": "USD"}, headers=admin
        )

        assert response.status_code == 201, response.text
        async with database.session() as session:
            found = await session.scalars(
                select(Job.id).where(Job.kind == GIFT_CARDS_ISSUED_EMAIL.name)
            )
            assert list(found) == []


def through_smtp(app: FastAPI, port: int) -> Settings:
    return settings_of(app).model_copy(
        update={
            "email_backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "none",
            "smtp_timeout_seconds": 5.0,
        }
    )


class TestThroughSmtp:
    async def test_the_worker_sends_the_confirmation_to_a_real_smtp_server(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        smtp_server: SmtpServer,
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "19.99", {loc: 10})
        customer_id = await make_customer(client, admin)
        order = await placed(client, admin, order_body((tee.variant_id, 2), customerId=customer_id))
        job = await the_job(database, ORDERS_CONFIRMATION_EMAIL.name, "orderId", order["id"])
        worker = make_worker(database, through_smtp(app, smtp_server.port), REGISTRATIONS)

        assert await worker.run_due() == 1

        assert (await reread(database, job.id)).status == "completed"
        (arrived,) = smtp_server.received
        assert arrived.sender == "shop@localhost"
        assert arrived.recipients == ["buyer@example.com"]
        message = arrived.message
        assert message["To"] == "buyer@example.com"
        assert message["From"] == "Shop <shop@localhost>"
        assert message["Subject"] == f"shopdb: order {order['number']} confirmed"
        assert message["Message-ID"] == f"<order_confirmation.{job.id}@localhost>"
        assert message["X-Shopdb-Notification"] == "order_confirmation"
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert text is not None
        assert html is not None
        assert "2 x Tee: 39.98 USD" in text.get_content()
        assert "Total: 39.98 USD" in text.get_content()
        assert f"Hello {HOSTILE_ESCAPED} Lee," in html.get_content()
        assert "<img" not in html.get_content()

    async def test_a_server_that_is_away_is_retried_and_the_message_arrives_once_back(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        smtp_server: SmtpServer,
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "3.00", {loc: 10})
        order = await placed(client, admin, order_body((tee.variant_id, 1)))
        job = await the_job(database, ORDERS_CONFIRMATION_EMAIL.name, "orderId", order["id"])
        away = make_worker(database, through_smtp(app, free_port()), REGISTRATIONS)

        (claimed,) = await away.claim(1)
        assert await away.run_claimed(claimed) == "retry"

        waiting = await reread(database, job.id)
        assert waiting.status == "queued"
        assert waiting.attempts == 1
        assert waiting.last_error == "aiosmtplib.errors.SMTPConnectError"
        assert smtp_server.received == []

        back = make_worker(database, through_smtp(app, smtp_server.port), REGISTRATIONS)
        assert await back.run_due() == 1

        sent = await reread(database, job.id)
        assert sent.status == "completed"
        assert sent.attempts == 2
        (arrived,) = smtp_server.received
        assert arrived.message["Message-ID"] == f"<order_confirmation.{job.id}@localhost>"

    async def test_a_recipient_refused_for_good_fails_the_job_without_retrying(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        smtp_server: SmtpServer,
    ) -> None:
        smtp_server.refused.add("buyer@example.com")
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "3.00", {loc: 10})
        order = await placed(client, admin, order_body((tee.variant_id, 1)))
        job = await the_job(database, ORDERS_CONFIRMATION_EMAIL.name, "orderId", order["id"])
        worker = make_worker(database, through_smtp(app, smtp_server.port), REGISTRATIONS)

        assert await worker.run_due() == 1

        failed = await reread(database, job.id)
        assert failed.status == "failed"
        assert failed.attempts == 1
        assert failed.error == ORDERS_CONFIRMATION_EMAIL.failure_message
        assert smtp_server.received == []

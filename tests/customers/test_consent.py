"""Marketing consent over HTTP: Shopify's email and SMS consent records on a customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.customers import consent
from shopdb.errors import ValidationFailed
from shopdb.models import Event
from tests.customers.conftest import CUSTOMERS, create_customer

NEVER_ASKED = {"state": "not_subscribed", "optInLevel": None, "consentUpdatedAt": None}
PHONE = "+1 555 010 9999"


def _moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _put(
    client: httpx.AsyncClient, headers: dict[str, str], customer_id: int, **body: Any
) -> httpx.Response:
    return await client.put(f"{CUSTOMERS}/{customer_id}", json=body, headers=headers)


async def _get(
    client: httpx.AsyncClient, headers: dict[str, str], customer_id: int
) -> dict[str, Any]:
    response = await client.get(f"{CUSTOMERS}/{customer_id}", headers=headers)
    body: dict[str, Any] = response.json()
    return body


class TestEmailConsent:
    async def test_subscribing_stamps_the_moment_and_defaults_to_single_opt_in(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        before = datetime.now(UTC)

        created = await create_customer(
            client, headers, emailMarketingConsent={"state": "subscribed"}
        )

        given = created["emailMarketingConsent"]
        assert (given["state"], given["optInLevel"]) == ("subscribed", "single_opt_in")
        stamped = _moment(given["consentUpdatedAt"])
        assert stamped is not None
        assert before <= stamped <= datetime.now(UTC)
        assert created["smsMarketingConsent"] == NEVER_ASKED

    async def test_a_consent_date_in_the_past_is_kept_as_given(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(
            client,
            headers,
            emailMarketingConsent={
                "state": "subscribed",
                "optInLevel": "confirmed_opt_in",
                "consentUpdatedAt": "2024-03-01T09:30:00-05:00",
            },
        )

        assert created["emailMarketingConsent"]["optInLevel"] == "confirmed_opt_in"
        assert _moment(created["emailMarketingConsent"]["consentUpdatedAt"]) == datetime(
            2024, 3, 1, 14, 30, tzinfo=UTC
        )

    async def test_a_consent_date_in_the_future_is_refused_and_changes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers)
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()

        response = await _put(
            client,
            headers,
            created["id"],
            emailMarketingConsent={"state": "subscribed", "consentUpdatedAt": tomorrow},
        )

        assert response.status_code == 400
        assert response.json()["details"] == [
            {
                "field": "emailMarketingConsent.consentUpdatedAt",
                "message": "must not be in the future",
            }
        ]
        assert (await _get(client, headers, created["id"]))["emailMarketingConsent"] == NEVER_ASKED

    async def test_a_consent_date_without_a_time_zone_is_refused(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.post(
            CUSTOMERS,
            json={
                "email": "naive@example.com",
                "emailMarketingConsent": {
                    "state": "subscribed",
                    "consentUpdatedAt": "2024-03-01T09:30:00",
                },
            },
            headers=headers,
        )

        assert response.status_code == 400
        assert [d["field"] for d in response.json()["details"]] == [
            "emailMarketingConsent.consentUpdatedAt"
        ]

    async def test_a_consent_date_at_the_edge_of_the_calendar_is_a_400(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.post(
            CUSTOMERS,
            json={
                "email": "edge@example.com",
                "emailMarketingConsent": {
                    "state": "subscribed",
                    "consentUpdatedAt": "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
                },
            },
            headers=headers,
        )

        assert response.status_code == 400
        assert response.json()["details"] == [
            {
                "field": "emailMarketingConsent.consentUpdatedAt",
                "message": "Value error, is out of range",
            }
        ]

    async def test_unsubscribing_keeps_the_level_and_stamps_a_new_moment(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(
            client,
            headers,
            emailMarketingConsent={
                "state": "subscribed",
                "optInLevel": "confirmed_opt_in",
                "consentUpdatedAt": "2024-03-01T00:00:00Z",
            },
        )

        response = await _put(
            client, headers, created["id"], emailMarketingConsent={"state": "unsubscribed"}
        )

        after = response.json()["emailMarketingConsent"]
        assert response.status_code == 200
        assert (after["state"], after["optInLevel"]) == ("unsubscribed", "confirmed_opt_in")
        stamped = _moment(after["consentUpdatedAt"])
        assert stamped is not None
        assert stamped > datetime(2025, 1, 1, tzinfo=UTC)

    async def test_resending_the_same_state_keeps_its_date(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(
            client, headers, emailMarketingConsent={"state": "subscribed"}
        )

        response = await _put(
            client, headers, created["id"], emailMarketingConsent={"state": "subscribed"}
        )

        assert response.json()["emailMarketingConsent"] == created["emailMarketingConsent"]

    async def test_pending_is_a_confirmed_opt_in(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers, emailMarketingConsent={"state": "pending"})
        refused = await _put(
            client,
            headers,
            created["id"],
            emailMarketingConsent={"state": "pending", "optInLevel": "single_opt_in"},
        )

        assert created["emailMarketingConsent"]["optInLevel"] == "confirmed_opt_in"
        assert refused.status_code == 400
        assert [d["field"] for d in refused.json()["details"]] == [
            "emailMarketingConsent.optInLevel"
        ]

    async def test_not_subscribed_and_redacted_cannot_be_set(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(
            client, headers, emailMarketingConsent={"state": "subscribed"}
        )

        answers = [
            await _put(client, headers, created["id"], emailMarketingConsent={"state": state})
            for state in ("not_subscribed", "redacted")
        ]

        assert [(r.status_code, r.json()["details"][0]["field"]) for r in answers] == [
            (400, "emailMarketingConsent.state"),
            (400, "emailMarketingConsent.state"),
        ]
        current = await _get(client, headers, created["id"])
        assert current["emailMarketingConsent"] == created["emailMarketingConsent"]

    async def test_sending_back_what_was_read_is_accepted_and_changes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers)  # not_subscribed

        response = await client.put(
            f"{CUSTOMERS}/{created['id']}",
            json={k: v for k, v in created.items() if k not in ("email",)},
            headers={**headers, "If-Match": '"1"'},
        )

        assert response.status_code == 200
        assert response.json()["emailMarketingConsent"] == NEVER_ASKED
        assert response.json()["state"] == created["state"]

    async def test_unknown_states_and_levels_are_refused(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        cases = [
            {"state": "SUBSCRIBED"},
            {"state": "invalid"},
            {"state": "subscribed", "optInLevel": "double_opt_in"},
            {"optInLevel": "single_opt_in"},
            {"state": "subscribed", "source": "web"},
        ]

        answers = [
            (
                await client.post(
                    CUSTOMERS,
                    json={"email": "x@example.com", "emailMarketingConsent": case},
                    headers=headers,
                )
            ).status_code
            for case in cases
        ]

        assert answers == [400] * len(cases)

    async def test_null_consent_is_refused(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers)

        response = await _put(client, headers, created["id"], emailMarketingConsent=None)

        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "emailMarketingConsent"

    async def test_a_change_records_shopifys_consent_event(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_customer(client, headers)

        response = await _put(
            client,
            headers,
            created["id"],
            emailMarketingConsent={
                "state": "subscribed",
                "consentUpdatedAt": "2025-06-01T12:00:00+00:00",
            },
        )
        await _put(client, headers, created["id"], emailMarketingConsent={"state": "subscribed"})

        events = list(
            await db_session.scalars(
                select(Event).where(
                    Event.topic == "customers_email_marketing_consent/update",
                    Event.subject_id == created["id"],
                )
            )
        )
        assert response.status_code == 200
        assert [e.body for e in events] == [  # the second PUT changed nothing: no event
            {
                "id": created["id"],
                "state": "subscribed",
                "optInLevel": "single_opt_in",
                "consentUpdatedAt": "2025-06-01T12:00:00+00:00",
            }
        ]

    async def test_a_creation_records_a_consent_event_only_for_consent_given(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        plain = await create_customer(
            client, headers, emailMarketingConsent={"state": "not_subscribed"}
        )
        subscriber = await create_customer(
            client, headers, emailMarketingConsent={"state": "subscribed"}
        )

        topics = {
            customer_id: list(
                await db_session.scalars(
                    select(Event.topic).where(
                        Event.subject_id == customer_id,
                        Event.topic.like("customers%marketing_consent/update"),
                    )
                )
            )
            for customer_id in (plain["id"], subscriber["id"])
        }
        assert topics == {
            plain["id"]: [],
            subscriber["id"]: ["customers_email_marketing_consent/update"],
        }


class TestSmsConsent:
    async def test_a_customer_with_a_phone_can_subscribe(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(
            client, headers, phone=PHONE, smsMarketingConsent={"state": "subscribed"}
        )

        assert created["smsMarketingConsent"]["state"] == "subscribed"
        assert created["emailMarketingConsent"] == NEVER_ASKED

    async def test_without_a_phone_subscribed_and_pending_are_refused(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers)

        answers = [
            await _put(client, headers, created["id"], smsMarketingConsent={"state": state})
            for state in ("subscribed", "pending")
        ]
        on_create = await client.post(
            CUSTOMERS,
            json={"email": "nophone@example.com", "smsMarketingConsent": {"state": "subscribed"}},
            headers=headers,
        )

        assert [(r.status_code, r.json()["details"][0]["field"]) for r in answers] == [
            (400, "smsMarketingConsent"),
            (400, "smsMarketingConsent"),
        ]
        assert (on_create.status_code, on_create.json()["details"][0]["field"]) == (
            400,
            "smsMarketingConsent",
        )
        current = await _get(client, headers, created["id"])
        assert (current["smsMarketingConsent"], current["version"]) == (NEVER_ASKED, 1)

    async def test_the_phone_and_the_consent_may_arrive_together(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers)

        response = await _put(
            client, headers, created["id"], phone=PHONE, smsMarketingConsent={"state": "pending"}
        )

        assert response.status_code == 200
        assert response.json()["smsMarketingConsent"]["state"] == "pending"

    async def test_the_phone_of_a_subscriber_cannot_be_removed_before_unsubscribing(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(
            client, headers, phone=PHONE, smsMarketingConsent={"state": "subscribed"}
        )

        refused = await _put(client, headers, created["id"], phone=None)
        together = await _put(
            client,
            headers,
            created["id"],
            phone=None,
            smsMarketingConsent={"state": "unsubscribed"},
        )

        assert (refused.status_code, refused.json()["details"][0]["field"]) == (400, "phone")
        assert together.status_code == 200
        assert together.json()["phone"] is None
        assert together.json()["smsMarketingConsent"]["state"] == "unsubscribed"

    async def test_unsubscribed_needs_no_phone(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers)

        response = await _put(
            client, headers, created["id"], smsMarketingConsent={"state": "unsubscribed"}
        )

        assert response.status_code == 200
        assert response.json()["smsMarketingConsent"]["state"] == "unsubscribed"


class TestRules:
    """shopdb.customers.consent.apply, without HTTP."""

    NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def test_redacted_stays_redacted_when_sent_back(self) -> None:
        before = consent.Consent("redacted", None, datetime(2025, 1, 1, tzinfo=UTC))

        after = consent.apply(before, {"state": "redacted"}, field="f", now=self.NOW)

        assert after == before

    def test_a_level_alone_changes_without_a_new_date(self) -> None:
        before = consent.Consent("subscribed", "single_opt_in", datetime(2025, 1, 1, tzinfo=UTC))

        after = consent.apply(
            before, {"state": "subscribed", "opt_in_level": "unknown"}, field="f", now=self.NOW
        )

        assert after == consent.Consent("subscribed", "unknown", before.consent_updated_at)

    def test_the_present_moment_itself_is_not_the_future(self) -> None:
        after = consent.apply(
            consent.NEVER_ASKED,
            {"state": "subscribed", "consent_updated_at": self.NOW},
            field="f",
            now=self.NOW,
        )

        assert after.consent_updated_at == self.NOW

    def test_a_microsecond_ahead_is_the_future(self) -> None:
        later = self.NOW + timedelta(microseconds=1)

        with pytest.raises(ValidationFailed) as refused:
            consent.apply(
                consent.NEVER_ASKED,
                {"state": "subscribed", "consent_updated_at": later},
                field="f",
                now=self.NOW,
            )

        assert refused.value.details == [
            {"field": "f.consentUpdatedAt", "message": "must not be in the future"}
        ]

"""Publication is separate from status, as in Shopify's REST API: `published` (or
`publishedAt`) publishes and unpublishes; `status` never does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fixtures.catalog import Headers, product_body


def moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


async def create(client: httpx.AsyncClient, admin: Headers, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/products", json=product_body(**fields), headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def put(
    client: httpx.AsyncClient, admin: Headers, product: dict[str, Any], body: dict[str, Any]
) -> httpx.Response:
    return await client.put(f"/api/v1/products/{product['id']}", json=body, headers=admin)


class TestOnCreate:
    @pytest.mark.parametrize("status", ["active", "draft", "archived"])
    async def test_published_by_default_whatever_the_status(
        self, client: httpx.AsyncClient, admin: Headers, status: str
    ) -> None:
        before = datetime.now(UTC)
        product = await create(client, admin, status=status)
        published_at = moment(product["publishedAt"])
        assert published_at is not None
        assert before - timedelta(seconds=1) <= published_at <= datetime.now(UTC)
        assert product["status"] == status

    async def test_published_false_keeps_an_active_product_unpublished(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin, status="active", published=False)
        assert (product["status"], product["publishedAt"]) == ("active", None)

    async def test_published_at_null_means_unpublished(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin, publishedAt=None)
        assert product["publishedAt"] is None

    async def test_a_past_published_at_is_kept(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin, published=True, publishedAt="2024-05-06T04:01:55Z")
        assert moment(product["publishedAt"]) == datetime(2024, 5, 6, 4, 1, 55, tzinfo=UTC)
        read = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert moment(read.json()["publishedAt"]) == datetime(2024, 5, 6, 4, 1, 55, tzinfo=UTC)

    async def test_an_offset_is_converted_and_no_offset_means_utc(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        india = await create(client, admin, publishedAt="2024-05-06T09:31:55+05:30")
        naive = await create(client, admin, title="Other", publishedAt="2024-05-06T04:01:55")
        expected = datetime(2024, 5, 6, 4, 1, 55, tzinfo=UTC)
        assert moment(india["publishedAt"]) == moment(naive["publishedAt"]) == expected


class TestOnUpdate:
    async def test_becoming_active_publishes_nothing(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin, status="draft", published=False)
        response = await put(client, admin, product, {"status": "active"})
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["publishedAt"]) == ("active", None)

    async def test_becoming_draft_keeps_the_publication(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin)
        response = await put(client, admin, product, {"status": "draft"})
        assert response.json()["publishedAt"] == product["publishedAt"]

    async def test_published_true_then_false_then_null_published_at(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin, published=False)

        published = await put(client, admin, product, {"published": True})
        assert published.status_code == 200
        assert published.json()["publishedAt"] is not None
        assert published.headers["ETag"] == '"2"'

        # Publishing a published product keeps its date and writes nothing.
        again = await put(client, admin, product, {"published": True})
        assert again.json()["publishedAt"] == published.json()["publishedAt"]
        assert again.headers["ETag"] == '"2"'

        unpublished = await put(client, admin, product, {"published": False})
        assert unpublished.json()["publishedAt"] is None
        assert unpublished.headers["ETag"] == '"3"'

        dated = await put(client, admin, product, {"publishedAt": "2023-01-02T03:04:05Z"})
        assert moment(dated.json()["publishedAt"]) == datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)

        cleared = await put(client, admin, product, {"publishedAt": None})
        assert cleared.json()["publishedAt"] is None

    async def test_contradictions_and_future_dates_are_400_and_change_nothing(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin)
        future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        cases: list[tuple[dict[str, Any], str]] = [
            ({"published": False, "publishedAt": "2023-01-01T00:00:00Z"}, "published"),
            ({"published": True, "publishedAt": None}, "publishedAt"),
            ({"publishedAt": future}, "publishedAt"),
            ({"published": None}, "published"),
        ]
        for body, field in cases:
            response = await put(client, admin, product, body)
            assert response.status_code == 400, body
            assert [d["field"] for d in response.json()["details"]] == [field], body
        after = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert after.json() == product


class TestOddTimes:
    @pytest.mark.parametrize(
        "value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2024-13-01T00:00:00Z"]
    )
    async def test_out_of_range_times_are_400(
        self, client: httpx.AsyncClient, admin: Headers, value: str
    ) -> None:
        response = await client.post(
            "/api/v1/products", json=product_body(publishedAt=value), headers=admin
        )
        assert response.status_code == 400, response.text
        assert [d["field"] for d in response.json()["details"]] == ["publishedAt"]

    async def test_the_earliest_utc_time_is_kept(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin, publishedAt="0001-01-01T00:00:00Z")
        assert moment(product["publishedAt"]) == datetime(1, 1, 1, tzinfo=UTC)

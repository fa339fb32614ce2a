"""What the route walk (tests/test_events_for_routes.py) needs before each request: a `Shop`
that makes products, orders, webhooks ... through the API or the database, and the `Call` a
case answers with."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from shopdb.db import Database
from shopdb.kit.types import utcnow
from shopdb.models import WebhookDelivery
from tests.catalog.test_images import png
from tests.orders.helpers import make_locations, make_variant, order_body
from tests.orders.test_fulfillments import ensure_fulfillment_orders

API = "/api/v1"


@dataclass
class Call:
    method: str
    url: str
    json: Any = None
    files: Any = None
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Tables a unit of this request may write without an event, each with its reason: a
    # claim or lease taken in a transaction of its own before the change.
    leases: dict[str, str] = field(default_factory=dict)


class Shop:
    """Makes what a request needs, through the API or the database, before it is watched."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str], database: Database):
        self.client = client
        self.headers = headers
        self.database = database

    @staticmethod
    def unique(prefix: str = "x") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    async def post(self, path: str, body: Any = None, status: int = 201) -> dict[str, Any]:
        response = await self.client.post(f"{API}{path}", json=body, headers=self.headers)
        assert response.status_code == status, (path, response.text)
        found: dict[str, Any] = response.json()
        return found

    async def get(self, path: str) -> Any:
        response = await self.client.get(f"{API}{path}", headers=self.headers)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    async def product(self) -> dict[str, Any]:
        return await self.post(
            "/products",
            {"title": self.unique("Tee"), "variants": [{"price": "10.00", "sku": self.unique()}]},
        )

    async def location(self) -> dict[str, Any]:
        return await self.post("/locations", {"name": self.unique("Store"), "country": "US"})

    async def stocked(self) -> tuple[int, int, int]:
        """A variant with 10 units at a new location: (variant id, item id, location id)."""
        (location_id,) = await make_locations(self.database, "Main")
        stocked = await make_variant(self.database, "10.00", {location_id: 10})
        return stocked.variant_id, stocked.item_id, location_id

    async def image(self, product_id: int) -> dict[str, Any]:
        response = await self.client.post(
            f"{API}/products/{product_id}/images",
            files={"file": ("a.png", png(), "image/png")},
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        found: dict[str, Any] = response.json()
        return found

    async def collection(self) -> dict[str, Any]:
        return await self.post(
            "/smart-collections",
            {
                "title": self.unique("Summer"),
                "rules": [{"column": "title", "relation": "contains", "condition": "Tee"}],
            },
        )

    async def metafield(self, product_id: int) -> dict[str, Any]:
        return await self.post(
            "/metafields",
            {
                "ownerResource": "products",
                "ownerId": product_id,
                "namespace": "custom",
                "key": self.unique("k").replace("-", "_"),
                "type": "single_line_text_field",
                "value": "hello",
            },
        )

    async def definition(self) -> dict[str, Any]:
        return await self.post(
            "/metafield-definitions",
            {
                "ownerType": "products",
                "namespace": "custom",
                "key": self.unique("d").replace("-", "_"),
                "name": "Material",
                "type": "single_line_text_field",
            },
        )

    async def customer(self) -> dict[str, Any]:
        return await self.post("/customers", {"email": f"{self.unique('c')}@example.com"})

    async def address(self, customer_id: int) -> dict[str, Any]:
        return await self.post(
            f"/customers/{customer_id}/addresses",
            {"address1": "1 Main St", "city": "Springfield", "country": "US", "province": "IL"},
        )

    async def group(self) -> dict[str, Any]:
        return await self.post("/customer-groups", {"name": self.unique("VIP")})

    async def user(self) -> dict[str, Any]:
        return await self.post(
            "/users",
            {"email": f"{self.unique('u')}@example.com", "password": "a long enough passphrase"},
        )

    async def discount(self) -> dict[str, Any]:
        return await self.post(
            "/discount-codes", {"code": self.unique("SAVE"), "type": "percentage", "value": "10"}
        )

    async def gift_card(self) -> dict[str, Any]:
        return await self.post("/gift-cards", {"initialValue": "50.00", "currency": "USD"})

    async def zone(self) -> dict[str, Any]:
        return await self.post(
            "/shipping-zones", {"name": self.unique("Domestic"), "countries": [{"code": "US"}]}
        )

    async def rate(self, zone_id: int) -> dict[str, Any]:
        return await self.post(
            f"/shipping-zones/{zone_id}/rates",
            {"name": "Standard", "price": "5.00", "currency": "USD"},
        )

    async def tax_rate(self) -> dict[str, Any]:
        return await self.post(
            "/tax-rates", {"country": "CA", "province": "ON", "name": "HST", "rate": "0.13"}
        )

    async def checkout(self) -> dict[str, Any]:
        variant_id, _item, _loc = await self.stocked()
        return await self.post(
            "/checkouts",
            {"email": "buyer@example.com", "lineItems": [{"variantId": variant_id, "quantity": 1}]},
        )

    async def order(self, *, capture: bool = True) -> dict[str, Any]:
        variant_id, _item, _loc = await self.stocked()
        body = order_body((variant_id, 2))
        body["payment"]["capture"] = capture
        return await self.post("/orders", body)

    async def fulfilled_order(self) -> tuple[dict[str, Any], dict[str, Any]]:
        order = await self.order()
        await ensure_fulfillment_orders(self.database, order["id"])
        fulfillment = await self.post(f"/orders/{order['id']}/fulfillments", {})
        return order, fulfillment

    async def fulfillment_order(self, *, requested: bool = False) -> int:
        order = await self.order()
        await ensure_fulfillment_orders(self.database, order["id"])
        (fulfillment_order, *_) = (await self.get(f"/orders/{order['id']}/fulfillment-orders"))[
            "items"
        ]
        if requested:
            service = await self.post("/fulfillment-services", {"name": self.unique("Ship")})
            await self.post(
                f"/fulfillment-orders/{fulfillment_order['id']}/request",
                {"fulfillmentServiceId": service["id"]},
                status=200,
            )
        return int(fulfillment_order["id"])

    async def open_return(self) -> tuple[int, int]:
        order, _fulfillment = await self.fulfilled_order()
        line_id = order["lineItems"][0]["id"]
        opened = await self.post(
            f"/orders/{order['id']}/returns",
            {"returnLineItems": [{"lineItemId": line_id, "quantity": 1}]},
        )
        return order["id"], opened["id"]

    async def webhook(self) -> dict[str, Any]:
        return await self.post(
            "/webhooks", {"topic": "products/create", "address": "http://127.0.0.1:9/hooks"}
        )

    async def abandoned_delivery(self) -> tuple[int, int]:
        hook = await self.webhook()
        async with self.database.session() as session:
            delivery = WebhookDelivery(
                webhook_id=hook["id"],
                topic="products/create",
                payload={"id": 1},
                status="abandoned",
                attempts=9,
                next_attempt_at=None,
                last_attempt_at=utcnow(),
            )
            session.add(delivery)
            await session.flush()
            return hook["id"], delivery.id


Setup = Callable[[Shop], Awaitable[Call]]

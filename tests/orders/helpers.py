"""Catalog rows, requests and read-backs shared by the orders tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.models import (
    DiscountCode,
    Event,
    GiftCard,
    InventoryItem,
    InventoryLevel,
    Job,
    Location,
    Order,
    OrderLineItem,
    OrderTransaction,
    Payment,
    Product,
    ProductVariant,
    Transaction,
)

ORDERS = "/api/v1/orders"
APPROVE = "4242424242424242"
DECLINE = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
GATEWAY_ERROR = "4000000000000119"


@dataclass(frozen=True)
class Stocked:
    variant_id: int
    item_id: int
    location_ids: list[int]


async def make_locations(database: Database, *names: str) -> list[int]:
    async with database.session() as session:
        rows = [Location(name=f"{name}-{uuid.uuid4().hex[:6]}") for name in names]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def make_variant(
    database: Database,
    price: str,
    stock: dict[int, int],
    *,
    policy: str = "deny",
    tracked: bool = True,
    taxable: bool = True,
    weight: str | None = None,
    weight_unit: str = "kg",
    title: str = "Tee",
) -> Stocked:
    """A one-variant product at `price`, stocked per location id; committed."""
    run = uuid.uuid4().hex[:8]
    async with database.session() as session:
        product = Product(title=title, handle=f"{title.lower()}-{run}", status="active")
        variant = ProductVariant(
            title="Default Title",
            price=Decimal(price),
            option1="Default Title",
            sku=f"SKU-{run}",
            inventory_quantity=sum(stock.values()),
            inventory_policy=policy,
            taxable=taxable,
            weight=None if weight is None else Decimal(weight),
            weight_unit=weight_unit,
        )
        variant.inventory_item = InventoryItem(sku=f"SKU-{run}", tracked=tracked)
        product.variants = [variant]
        session.add(product)
        await session.flush()
        assert variant.inventory_item is not None
        for location_id, quantity in stock.items():
            session.add(
                InventoryLevel(
                    inventory_item_id=variant.inventory_item.id,
                    location_id=location_id,
                    available=quantity,
                )
            )
        return Stocked(variant.id, variant.inventory_item.id, list(stock))


def order_body(*lines: tuple[int, int], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": "Buyer@Example.com",
        "lineItems": [{"variantId": v, "quantity": q} for v, q in lines],
        "payment": {"gateway": "test", "token": APPROVE, "capture": True},
    }
    body.update(fields)
    return body


async def place(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    return await client.post(ORDERS, json=body, headers=headers)


async def level(session: AsyncSession, item_id: int, location_id: int) -> tuple[int, int]:
    row = (
        await session.execute(
            select(InventoryLevel.available, InventoryLevel.committed).where(
                InventoryLevel.inventory_item_id == item_id,
                InventoryLevel.location_id == location_id,
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def count(session: AsyncSession, model: Any, *where: Any) -> int:
    found = await session.scalar(select(func.count()).select_from(model).where(*where))
    return int(found or 0)


async def order_count(session: AsyncSession) -> int:
    return await count(session, Order)


async def order_events(session: AsyncSession, order_id: int) -> list[str]:
    rows = await session.scalars(
        select(Event.topic)
        .where(Event.subject_type == "Order", Event.subject_id == order_id)
        .order_by(Event.id)
    )
    return list(rows)


async def jobs_of(session: AsyncSession, kind: str, order_id: int) -> int:
    return await count(
        session, Job, Job.kind == kind, Job.payload["orderId"].as_integer() == order_id
    )


async def discount_used(session: AsyncSession, code: str) -> int:
    found = await session.scalar(select(DiscountCode.used_count).where(DiscountCode.code == code))
    assert found is not None
    return int(found)


async def gift_card_balance(session: AsyncSession, gift_card_id: int) -> Decimal:
    found = await session.scalar(select(GiftCard.balance).where(GiftCard.id == gift_card_id))
    assert found is not None
    return Decimal(found)


async def payment_mirror(session: AsyncSession, order_id: int) -> tuple[list[Any], list[Any]]:
    """(order_transactions, their payments/transactions mirror) of an order, comparable."""
    truth = await session.execute(
        select(
            OrderTransaction.id,
            OrderTransaction.kind,
            OrderTransaction.gateway,
            OrderTransaction.status,
            OrderTransaction.amount,
            OrderTransaction.transaction_id,
        )
        .where(OrderTransaction.order_id == order_id)
        .order_by(OrderTransaction.id)
    )
    mirror = await session.execute(
        select(
            Transaction.order_transaction_id,
            Transaction.type,
            Payment.gateway,
            Transaction.status,
            Transaction.amount,
            Transaction.reference,
        )
        .join(Payment, Payment.id == Transaction.payment_id)
        .where(Payment.order_id == order_id)
        .order_by(Transaction.order_transaction_id)
    )
    return [tuple(r) for r in truth], [tuple(r) for r in mirror]


async def orders_with(session: AsyncSession, variant_id: int) -> list[Order]:
    """The orders (placed or reserved) that have a line of the variant."""
    rows = await session.scalars(
        select(Order)
        .join(OrderLineItem, OrderLineItem.order_id == Order.id)
        .where(OrderLineItem.product_variant_id == variant_id)
        .order_by(Order.id)
    )
    return list(rows.unique())

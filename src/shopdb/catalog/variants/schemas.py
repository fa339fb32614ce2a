"""A variant added to a product or changed on its own."""

from __future__ import annotations

from pydantic import Field

from shopdb.catalog.products.schemas import Price, VariantFields


class VariantCreate(VariantFields):
    price: Price
    inventory_quantity: int | None = Field(default=None, ge=0, le=1_000_000_000)


class VariantUpdate(VariantFields):
    pass

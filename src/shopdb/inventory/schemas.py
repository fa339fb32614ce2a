"""Location, inventory item and inventory level DTOs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints

from shopdb.kit.schemas import CamelModel, InputModel

Text255 = Annotated[str, StringConstraints(max_length=255)]
Short = Annotated[str, StringConstraints(max_length=50)]
Quantity = Annotated[int, Field(ge=0, le=1_000_000_000)]
Delta = Annotated[int, Field(ge=-1_000_000_000, le=1_000_000_000)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Note = Annotated[str, StringConstraints(max_length=2000)]
ItemId = Annotated[int, Field(ge=1)]


class LocationFields(InputModel):
    address1: Text255 | None = None
    address2: Text255 | None = None
    city: Text255 | None = None
    province: Text255 | None = None
    country: Text255 | None = None
    zip: Short | None = None
    phone: Short | None = None


class LocationCreate(LocationFields):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    active: bool = True


class LocationUpdate(LocationFields):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    active: bool | None = None


class LocationOut(CamelModel):
    id: int
    name: str
    address1: str | None
    address2: str | None
    city: str | None
    province: str | None
    country: str | None
    zip: str | None
    phone: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class InventoryItemOut(CamelModel):
    id: int
    product_variant_id: int
    sku: str | None
    cost: Decimal | None
    tracked: bool
    country_code_of_origin: str | None
    created_at: datetime
    updated_at: datetime


class InventoryItemUpdate(InputModel):
    # The SKU follows the variant's; the variant is fixed.
    read_only = InputModel.read_only | {"product_variant_id", "sku"}

    cost: (
        Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2, allow_inf_nan=False)] | None
    ) = None
    tracked: bool | None = None
    country_code_of_origin: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None


class InventoryLevelOut(CamelModel):
    inventory_item_id: int
    location_id: int
    available: int
    committed: int
    on_hand: int
    updated_at: datetime


class AdjustInventory(InputModel):
    inventory_item_id: ItemId
    location_id: ItemId
    available_adjustment: Delta
    reason: Reason | None = None
    note: Note | None = None


class SetInventory(InputModel):
    inventory_item_id: ItemId
    location_id: ItemId
    available: Quantity
    reason: Reason | None = None
    note: Note | None = None


class ConnectInventory(InputModel):
    inventory_item_id: ItemId
    location_id: ItemId

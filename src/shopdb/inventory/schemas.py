"""Location, inventory item and inventory level DTOs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, get_args

from pydantic import Field, StringConstraints

from shopdb.errors import ValidationFailed
from shopdb.kit.schemas import CamelModel, InputModel
from shopdb.models.inventory import ADJUSTMENT_REASONS

Text255 = Annotated[str, StringConstraints(max_length=255)]
Short = Annotated[str, StringConstraints(max_length=50)]
Quantity = Annotated[int, Field(ge=0, le=1_000_000_000)]
Delta = Annotated[int, Field(ge=-1_000_000_000, le=1_000_000_000)]
# Shopify's reasons (models.inventory.ADJUSTMENT_REASONS, checked below): anything else is a 400.
Reason = Literal[
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
]
if get_args(Reason) != ADJUSTMENT_REASONS:  # pragma: no cover - caught at import
    raise RuntimeError("schemas.Reason differs from models.inventory.ADJUSTMENT_REASONS")
# States a client adjusts by a delta or moves units out of (service.ADJUSTABLE_STATES), and
# those units can be moved into (service.MOVE_TARGETS).
AdjustableState = Literal[
    "available", "incoming", "reserved", "damaged", "safety_stock", "quality_control"
]
MoveTarget = Literal["available", "reserved", "damaged", "safety_stock", "quality_control"]
Moved = Annotated[int, Field(ge=1, le=1_000_000_000)]
Compared = Annotated[int, Field(ge=-2_147_483_647, le=2_147_483_647)]
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
    """A level in Shopify's quantity states; `unavailable` = reserved + damaged + safetyStock
    + qualityControl, `onHand` = available + committed + unavailable (`incoming` is not on
    hand). `available` is negative when a `continue` variant was sold beyond its stock."""

    inventory_item_id: int
    location_id: int
    available: int
    committed: int
    incoming: int
    reserved: int
    damaged: int
    safety_stock: int
    quality_control: int
    unavailable: int
    on_hand: int
    updated_at: datetime


class AdjustInventory(InputModel):
    """Either Shopify REST's `availableAdjustment`, or GraphQL's `name` (a state) and `delta`."""

    inventory_item_id: ItemId
    location_id: ItemId
    available_adjustment: Delta | None = None
    name: AdjustableState | None = None
    delta: Delta | None = None
    reason: Reason | None = None
    note: Note | None = None

    def state_change(self) -> tuple[str, int, str]:
        """(state, delta, the request field naming the delta); a 400 if the forms are mixed."""
        if self.available_adjustment is not None:
            if self.delta is not None:
                raise ValidationFailed.on("delta", "give availableAdjustment or delta, not both")
            if self.name not in (None, "available"):
                raise ValidationFailed.on("name", "availableAdjustment adjusts `available`")
            return "available", self.available_adjustment, "availableAdjustment"
        if self.delta is None:
            raise ValidationFailed.on("availableAdjustment", "is required (or `name` and `delta`)")
        return self.name or "available", self.delta, "delta"


class MoveInventory(InputModel):
    """Shopify's inventoryMoveQuantities at one level: `quantity` units from one state to
    another (`incoming` can be moved out of, once received, not into)."""

    inventory_item_id: ItemId
    location_id: ItemId
    quantity: Moved
    from_: AdjustableState = Field(alias="from")
    to: MoveTarget
    reason: Reason | None = None
    note: Note | None = None


class SetInventory(InputModel):
    inventory_item_id: ItemId
    location_id: ItemId
    available: Quantity
    # Shopify's compare-and-set: the available quantity the caller expects the level to hold.
    compare_quantity: Compared | None = None
    reason: Reason | None = None
    note: Note | None = None


class ConnectInventory(InputModel):
    inventory_item_id: ItemId
    location_id: ItemId

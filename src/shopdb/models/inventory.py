"""Stock: locations, one inventory item per variant, levels per location and the adjustment log."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopdb.kit.models import Base, CreatedAtMixin, IdMixin, TimestampMixin, VersionMixin
from shopdb.kit.types import BigIntId, Money, UTCDateTime, utcnow

if TYPE_CHECKING:
    from shopdb.models.catalog import ProductVariant


class Location(IdMixin, TimestampMixin, Base):
    __tablename__ = "locations"
    __table_args__ = (
        Index("ix_locations_name", "name"),
        Index("ix_locations_country", "country"),
        Index("ix_locations_active", "active"),
    )

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    address1: Mapped[str | None] = mapped_column(String(255))
    address2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(255))
    province: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(255))
    zip: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(50))
    active: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=True, server_default=sa.true()
    )


class InventoryItem(IdMixin, TimestampMixin, Base):
    __tablename__ = "inventory_items"
    __table_args__ = (
        UniqueConstraint("sku"),
        # The ER diagram says one inventory item per variant; the DDL's plain index allows two.
        UniqueConstraint("product_variant_id"),
        CheckConstraint("cost IS NULL OR cost >= 0", name="cost"),
        Index("ix_inventory_items_product_variant_id", "product_variant_id"),
        Index("ix_inventory_items_sku", "sku"),
        Index("ix_inventory_items_tracked", "tracked"),
    )

    product_variant_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("product_variants.id", ondelete="CASCADE"), nullable=False
    )
    sku: Mapped[str | None] = mapped_column(String(255))
    cost: Mapped[Decimal | None] = mapped_column(Money(10, 2))
    tracked: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=True, server_default=sa.true()
    )
    country_code_of_origin: Mapped[str | None] = mapped_column(String(3))

    variant: Mapped[ProductVariant] = relationship(back_populates="inventory_item", lazy="raise")
    levels: Mapped[list[InventoryLevel]] = relationship(
        back_populates="inventory_item", passive_deletes=True, lazy="raise"
    )


# Shopify's quantity names (shopify.dev, "Apps in inventory management", inventory states).
# `on_hand` is derived: available + committed + the unavailable states; `incoming` is not on
# hand. Shopify's admin shows reserved units as Unavailable too, with damaged, safety stock and
# quality control: on_hand = available + committed + unavailable, as its docs state it.
UNAVAILABLE_STATES = ("reserved", "damaged", "safety_stock", "quality_control")
QUANTITY_STATES = ("available", "committed", "incoming", *UNAVAILABLE_STATES)

# Shopify's adjustment reasons (InventoryAdjustQuantitiesInput.reason, "the possible reasons").
ADJUSTMENT_REASONS = (
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
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class InventoryLevel(IdMixin, VersionMixin, Base):
    """Quantities of one item at one location, in Shopify's states.

    `available` can be sold and is the only state that may be negative: a variant whose
    inventory policy is `continue` (or whose item is not tracked) is sold beyond its stock, as
    Shopify shows it. Whether it may go below zero is decided inside the inventory
    repository's guarded UPDATE (it depends on the variant's policy), not by a CHECK.
    `committed` is ordered but not yet fulfilled; `incoming` is on its way (not on hand);
    `reserved`, `damaged`, `safety_stock` and `quality_control` are on hand but unavailable.
    All are changed only by atomic UPDATEs in the inventory repository.
    """

    __tablename__ = "inventory_levels"
    __table_args__ = (
        CheckConstraint("committed >= 0", name="committed"),
        CheckConstraint("incoming >= 0", name="incoming"),
        CheckConstraint("reserved >= 0", name="reserved"),
        CheckConstraint("damaged >= 0", name="damaged"),
        CheckConstraint("safety_stock >= 0", name="safety_stock"),
        CheckConstraint("quality_control >= 0", name="quality_control"),
        Index("ix_inventory_levels_inventory_item_id", "inventory_item_id"),
        Index("ix_inventory_levels_location_id", "location_id"),
        # A location's levels are listed by item: one range of this index (migration 0017).
        Index(
            "ix_inventory_levels_location_id_inventory_item_id",
            "location_id",
            "inventory_item_id",
        ),
        Index(
            "ux_inventory_levels_inventory_item_id_location_id",
            "inventory_item_id",
            "location_id",
            unique=True,
        ),
    )

    inventory_item_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("inventory_items.id", ondelete="CASCADE"), nullable=False
    )
    location_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("locations.id", ondelete="CASCADE"), nullable=False
    )
    available: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    committed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    incoming: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    reserved: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    damaged: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    safety_stock: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    quality_control: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(),
        nullable=False,
        default=utcnow,
        onupdate=utcnow,
        server_default=sa.func.current_timestamp(),
    )

    inventory_item: Mapped[InventoryItem] = relationship(back_populates="levels", lazy="raise")

    @property
    def unavailable(self) -> int:
        return self.reserved + self.damaged + self.safety_stock + self.quality_control

    @property
    def on_hand(self) -> int:
        return self.available + self.committed + self.unavailable


class InventoryAdjustment(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "inventory_adjustments"
    __table_args__ = (
        Index("ix_inventory_adjustments_inventory_item_id", "inventory_item_id"),
        Index("ix_inventory_adjustments_location_id", "location_id"),
        Index("ix_inventory_adjustments_created_at", "created_at"),
        CheckConstraint(_one_of("quantity_name", QUANTITY_STATES), name="quantity_name"),
        CheckConstraint(
            f"reason IS NULL OR {_one_of('reason', ADJUSTMENT_REASONS)}", name="reason"
        ),
    )

    inventory_item_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("inventory_items.id", ondelete="CASCADE"), nullable=False
    )
    location_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("locations.id", ondelete="CASCADE"), nullable=False
    )
    # Which state moved (one row per state a change moved; a move between states is two).
    quantity_name: Mapped[str] = mapped_column(
        String(20), nullable=False, default="available", server_default="available"
    )
    quantity_adjustment: Mapped[int] = mapped_column(Integer, nullable=False)
    # Nullable as in the seed; every row the API writes has one of Shopify's reasons.
    reason: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)

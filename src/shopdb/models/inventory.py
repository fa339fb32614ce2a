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


class InventoryLevel(IdMixin, VersionMixin, Base):
    """Quantities of one item at one location, in Shopify's states.

    `available` can be sold; `committed` is ordered but not yet fulfilled (not in the seed);
    on hand is their sum. Both are changed only by atomic UPDATEs in the inventory repository.
    """

    __tablename__ = "inventory_levels"
    __table_args__ = (
        CheckConstraint("available >= 0", name="available"),
        CheckConstraint("committed >= 0", name="committed"),
        Index("ix_inventory_levels_inventory_item_id", "inventory_item_id"),
        Index("ix_inventory_levels_location_id", "location_id"),
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
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(),
        nullable=False,
        default=utcnow,
        onupdate=utcnow,
        server_default=sa.func.current_timestamp(),
    )

    inventory_item: Mapped[InventoryItem] = relationship(back_populates="levels", lazy="raise")

    @property
    def on_hand(self) -> int:
        return self.available + self.committed


class InventoryAdjustment(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "inventory_adjustments"
    __table_args__ = (
        Index("ix_inventory_adjustments_inventory_item_id", "inventory_item_id"),
        Index("ix_inventory_adjustments_location_id", "location_id"),
        Index("ix_inventory_adjustments_created_at", "created_at"),
    )

    inventory_item_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("inventory_items.id", ondelete="CASCADE"), nullable=False
    )
    location_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("locations.id", ondelete="CASCADE"), nullable=False
    )
    quantity_adjustment: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)

"""Shipping zones and the rates offered in each zone."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopdb.kit.models import Base, IdMixin, TimestampMixin
from shopdb.kit.types import BigIntId, JSONType, Money


class ShippingZone(IdMixin, TimestampMixin, Base):
    __tablename__ = "shipping_zones"
    __table_args__ = (Index("ix_shipping_zones_name", "name"),)

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    countries: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)

    rates: Mapped[list[ShippingRate]] = relationship(
        back_populates="shipping_zone",
        order_by="ShippingRate.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class ShippingRate(IdMixin, TimestampMixin, Base):
    __tablename__ = "shipping_rates"
    __table_args__ = (
        Index("ix_shipping_rates_shipping_zone_id", "shipping_zone_id"),
        Index("ix_shipping_rates_price", "price"),
    )

    shipping_zone_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("shipping_zones.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    price: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    min_weight: Mapped[Decimal | None] = mapped_column(Money(8, 2), nullable=True)
    max_weight: Mapped[Decimal | None] = mapped_column(Money(8, 2), nullable=True)

    shipping_zone: Mapped[ShippingZone] = relationship(back_populates="rates", lazy="raise")

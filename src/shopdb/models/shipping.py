"""Shipping zones and the rates offered in each zone.

`countries` holds the seed's JSON array of codes: ISO 3166-1 alpha-2 country codes ("US"),
ISO 3166-2 subdivision codes for a province ("CA-QC"), and "*" for the rest of the world.

Weights are grams, in the columns as on the wire: DECIMAL(8,2) holds up to 999,999.99 g, far
above any parcel rate. A rate applies from its minimum (inclusive) up to its maximum
(exclusive), so adjacent bands such as [0, 1000) and [1000, 5000) never overlap.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
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
        CheckConstraint("price >= 0", name="price"),
        CheckConstraint(
            "(min_weight IS NULL OR min_weight >= 0) AND (max_weight IS NULL OR max_weight > 0)"
            " AND (min_weight IS NULL OR max_weight IS NULL OR min_weight < max_weight)",
            name="weight_range",
        ),
        CheckConstraint(
            "(min_subtotal IS NULL OR min_subtotal >= 0)"
            " AND (max_subtotal IS NULL OR max_subtotal > 0)"
            " AND (min_subtotal IS NULL OR max_subtotal IS NULL OR min_subtotal < max_subtotal)",
            name="subtotal_range",
        ),
        Index("ix_shipping_rates_shipping_zone_id", "shipping_zone_id"),
        Index("ix_shipping_rates_price", "price"),
    )

    shipping_zone_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("shipping_zones.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    price: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    # Grams (see the module docstring).
    min_weight: Mapped[Decimal | None] = mapped_column(Money(8, 2), nullable=True)
    max_weight: Mapped[Decimal | None] = mapped_column(Money(8, 2), nullable=True)
    # Shopify's price-based rates: the order subtotal, in the rate's currency.
    min_subtotal: Mapped[Decimal | None] = mapped_column(Money(10, 2), nullable=True)
    max_subtotal: Mapped[Decimal | None] = mapped_column(Money(10, 2), nullable=True)

    shipping_zone: Mapped[ShippingZone] = relationship(back_populates="rates", lazy="raise")

"""Markets for international selling, the country regions each market covers, and the
exchange rate and rounding rule of each currency a market sells in (currency_settings).

A market sets the currency and tax-inclusive pricing of its countries: `markets.currency` and
`markets.tax_inclusive_pricing` are written to each of its regions (the seed keeps them per
region, and tax/ reads them there); a region may then be set apart. The seed's
`markets.currency_settings` JSON is left as the seed has it: rates are per currency, in
their own table, with a CHECK on the rate.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopdb.kit.models import Base, IdMixin, TimestampMixin, VersionMixin
from shopdb.kit.types import BigIntId, JSONType

# How a converted price is rounded (markets/rules.py): to the currency's minor units only,
# to the nearest 0.05 or whole unit, or up to the next x.99 or whole unit.
ROUNDING_RULES = ("none", "nearest_0_05", "nearest_whole", "up_to_0_99", "up_to_whole")


class Market(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "markets"
    __table_args__ = (
        Index("ix_markets_name", "name"),
        Index("ix_markets_primary_locale", "primary_locale"),
        Index("ix_markets_enabled", "enabled"),
        Index("ix_markets_handle", "handle"),
    )

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    primary_locale: Mapped[str] = mapped_column(String(10), nullable=False)
    web_presence_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency_settings: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    enabled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=sa.true()
    )
    handle: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The currency its countries are priced in (null: the shop's own currency, as for rows
    # written before markets priced orders) and whether their prices include tax.
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    tax_inclusive_pricing: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sa.false()
    )

    regions: Mapped[list[MarketRegion]] = relationship(
        back_populates="market",
        order_by="MarketRegion.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class MarketRegion(IdMixin, TimestampMixin, Base):
    __tablename__ = "market_regions"
    __table_args__ = (
        UniqueConstraint("market_id", "country_code"),
        Index("ix_market_regions_market_id", "market_id"),
        Index("ix_market_regions_country_code", "country_code"),
        Index("ix_market_regions_currency", "currency"),
    )

    market_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("markets.id", ondelete="CASCADE"), nullable=False
    )
    country_code: Mapped[str] = mapped_column(String(2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    tax_inclusive_pricing: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sa.false()
    )

    market: Mapped[Market] = relationship(back_populates="regions", lazy="raise")


class CurrencySettings(IdMixin, TimestampMixin, VersionMixin, Base):
    """One presentment currency: how many units of it one unit of the shop's currency buys
    (`exchange_rate`, > 0), and how a converted price is rounded (ROUNDING_RULES)."""

    __tablename__ = "currency_settings"
    __table_args__ = (
        UniqueConstraint("currency"),
        CheckConstraint("exchange_rate > 0", name="exchange_rate"),
        CheckConstraint(
            "rounding_rule IN (" + ", ".join(f"'{r}'" for r in ROUNDING_RULES) + ")",
            name="rounding_rule",
        ),
    )

    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    exchange_rate: Mapped[Decimal] = mapped_column(Numeric(18, 8), nullable=False)
    rounding_rule: Mapped[str] = mapped_column(
        String(20), nullable=False, default="none", server_default="none"
    )

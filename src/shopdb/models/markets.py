"""Markets for international selling and the country regions each market covers."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopdb.kit.models import Base, IdMixin, TimestampMixin
from shopdb.kit.types import BigIntId, JSONType


class Market(IdMixin, TimestampMixin, Base):
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

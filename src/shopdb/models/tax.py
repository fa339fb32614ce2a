"""Tax rates per country and per province (a table the seed lacks).

A row with no province is the country-wide rate. A province row combines with it as
Shopify's provinces do (`tax_type`): `normal` adds to the country rate (Canada's PST on top
of GST), `harmonized` replaces it (Canada's HST), `compounded` is charged on the price plus
the country tax (Quebec's QST before 2013).
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import Boolean, CheckConstraint, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shopdb.kit.models import Base, IdMixin, TimestampMixin

TAX_TYPES = ("normal", "harmonized", "compounded")


class TaxRate(IdMixin, TimestampMixin, Base):
    __tablename__ = "tax_rates"
    __table_args__ = (
        UniqueConstraint("country", "province"),
        # NULLs are distinct in a unique key: one country-wide row per country needs its own.
        Index(
            "ux_tax_rates_country_country_wide",
            "country",
            unique=True,
            sqlite_where=sa.text("province IS NULL"),
            postgresql_where=sa.text("province IS NULL"),
        ),
        CheckConstraint("rate >= 0 AND rate <= 1", name="rate"),
        CheckConstraint("tax_type IN ('normal', 'harmonized', 'compounded')", name="tax_type"),
        CheckConstraint("province IS NOT NULL OR tax_type = 'normal'", name="country_wide_type"),
    )

    country: Mapped[str] = mapped_column(String(2), nullable=False)
    province: Mapped[str | None] = mapped_column(String(3), nullable=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    rate: Mapped[Decimal] = mapped_column(Numeric(6, 5, asdecimal=True), nullable=False)
    shipping_taxable: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sa.false()
    )
    tax_type: Mapped[str] = mapped_column(
        String(20), nullable=False, default="normal", server_default="normal"
    )

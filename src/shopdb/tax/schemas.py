"""Tax rates on the wire: a rate is a decimal fraction (0.05 is 5%) with up to five places."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from shopdb.kit.countries import CountryCode, ProvinceCode
from shopdb.kit.schemas import CamelModel, InputModel

Rate = Annotated[Decimal, Field(ge=0, le=1, max_digits=6, decimal_places=5, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=255)]
TaxType = Literal["normal", "harmonized", "compounded"]


class TaxRateCreate(InputModel):
    country: CountryCode
    province: ProvinceCode | None = Field(default=None, description="null: the country-wide rate")
    name: Name
    rate: Rate
    shipping_taxable: bool = False
    tax_type: TaxType = Field(
        default="normal",
        description="how a province rate combines with the country rate: normal adds to it, "
        "harmonized replaces it, compounded is charged on the price plus the country tax",
    )


class TaxRateUpdate(InputModel):
    """Only the fields sent change; `province: null` makes the rate country-wide."""

    country: CountryCode | None = None
    province: ProvinceCode | None = None
    name: Name | None = None
    rate: Rate | None = None
    shipping_taxable: bool | None = None
    tax_type: TaxType | None = None


class TaxRateRead(CamelModel):
    id: int
    country: str
    province: str | None
    name: str
    rate: Decimal
    shipping_taxable: bool
    tax_type: str
    created_at: datetime
    updated_at: datetime

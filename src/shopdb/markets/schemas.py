"""Markets, their regions and currency settings on the wire.

An exchange rate is a decimal string (up to 10 digits before the point and 8 after): how many
units of the settings' currency one unit of the shop's currency buys ("0.92" for EUR in a USD
shop). Currencies and countries are ISO codes in any letter case, stored upper-case.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from shopdb.kit.countries import CountryCode
from shopdb.kit.schemas import CamelModel, InputModel


def _upper(value: str) -> str:
    return value.upper()


Currency = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$"), AfterValidator(_upper)]
Name = Annotated[str, Field(min_length=1, max_length=255)]
# BCP 47 as Shopify writes locales: "en", "fr", "pt-BR", "zh-Hant-TW" (at most 10 characters).
Locale = Annotated[
    str, Field(min_length=2, max_length=10, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,4}){0,2}$")
]
Rate = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=8, allow_inf_nan=False)]
RoundingRule = Literal["none", "nearest_0_05", "nearest_whole", "up_to_0_99", "up_to_whole"]


class RegionCreate(InputModel):
    """A country of the market; `currency` and `taxInclusivePricing` default to the market's."""

    country_code: CountryCode
    currency: Currency | None = None
    tax_inclusive_pricing: bool | None = None


class RegionUpdate(InputModel):
    """Only the fields sent change: a region set apart from its market's currency or tax."""

    country_code: CountryCode | None = None
    currency: Currency | None = None
    tax_inclusive_pricing: bool | None = None


class MarketCreate(InputModel):
    name: Name
    handle: Name | None = None
    primary_locale: Locale
    web_presence_id: int | None = Field(default=None, ge=1)
    enabled: bool = True
    currency: Currency | None = Field(
        default=None, description="what its countries are priced in; default the shop's"
    )
    tax_inclusive_pricing: bool = False
    regions: list[RegionCreate] = Field(default_factory=list, max_length=250)


class MarketUpdate(InputModel):
    """Only the fields sent change. A new `currency` or `taxInclusivePricing` is written to
    every region of the market (the market sets them for its countries). Regions change
    through /markets/{id}/regions."""

    read_only = InputModel.read_only | {"regions"}

    name: Name | None = None
    handle: Name | None = None
    primary_locale: Locale | None = None
    web_presence_id: int | None = Field(default=None, ge=1)
    enabled: bool | None = None
    currency: Currency | None = None
    tax_inclusive_pricing: bool | None = None


class RegionRead(CamelModel):
    id: int
    country_code: str
    currency: str
    tax_inclusive_pricing: bool
    created_at: datetime
    updated_at: datetime


class MarketRead(CamelModel):
    id: int
    name: str
    handle: str | None
    primary_locale: str
    web_presence_id: int | None
    enabled: bool
    currency: str
    tax_inclusive_pricing: bool
    regions: list[RegionRead]
    created_at: datetime
    updated_at: datetime


class CurrencySettingsCreate(InputModel):
    currency: Currency
    exchange_rate: Rate
    rounding_rule: RoundingRule = "none"


class CurrencySettingsUpdate(InputModel):
    """Only the fields sent change; the currency is the settings' identity and stays."""

    read_only = InputModel.read_only | {"currency"}

    exchange_rate: Rate | None = None
    rounding_rule: RoundingRule | None = None


class CurrencySettingsRead(CamelModel):
    id: int
    currency: str
    exchange_rate: Decimal
    rounding_rule: str
    created_at: datetime
    updated_at: datetime

"""Shipping zones, their rates and quotes on the wire. Weights are grams; money is a decimal
string with two places in the rate's currency."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field

from shopdb.kit.countries import CountryCode
from shopdb.kit.countries import ProvinceCode as CheckedProvince
from shopdb.kit.schemas import CamelModel, InputModel


def _upper(value: str) -> str:
    return value.upper()


# Zones check their province codes themselves, naming each one's position in the request.
ProvinceCode = Annotated[str, Field(min_length=1, max_length=3), AfterValidator(_upper)]
Currency = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$"), AfterValidator(_upper)]
Price = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2, allow_inf_nan=False)]
# DECIMAL(8,2) grams: up to 999,999.99 g.
Grams = Annotated[Decimal, Field(ge=0, max_digits=8, decimal_places=2, allow_inf_nan=False)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2, allow_inf_nan=False)]
Weight = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=3, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=255)]


class ZoneCountryIn(InputModel):
    code: Annotated[
        str,
        Field(min_length=1, max_length=2, description='ISO 3166-1 alpha-2, or "*" (rest of world)'),
        AfterValidator(_upper),
    ]
    provinces: list[ProvinceCode] = Field(default_factory=list, max_length=100)


class ZoneCountryRead(CamelModel):
    code: str
    provinces: list[str]


ZONE_READ_ONLY = InputModel.read_only | {"rates"}


class ZoneCreate(InputModel):
    read_only = ZONE_READ_ONLY

    name: Name
    countries: list[ZoneCountryIn] = Field(min_length=1, max_length=250)


class ZoneUpdate(InputModel):
    """Only the fields sent change; `countries`, when sent, replaces the whole list."""

    read_only = ZONE_READ_ONLY

    name: Name | None = None
    countries: list[ZoneCountryIn] | None = Field(default=None, min_length=1, max_length=250)


RATE_READ_ONLY = InputModel.read_only | {"shipping_zone_id"}


class RateCreate(InputModel):
    read_only = RATE_READ_ONLY

    name: Name
    price: Price
    currency: Currency
    min_weight: Grams | None = None
    max_weight: Grams | None = None
    min_subtotal: Price | None = None
    max_subtotal: Price | None = None


class RateUpdate(InputModel):
    """Only the fields sent change; a bound sent as null is removed."""

    read_only = RATE_READ_ONLY

    name: Name | None = None
    price: Price | None = None
    currency: Currency | None = None
    min_weight: Grams | None = None
    max_weight: Grams | None = None
    min_subtotal: Price | None = None
    max_subtotal: Price | None = None


class RateRead(CamelModel):
    id: int
    shipping_zone_id: int
    name: str
    price: Decimal
    currency: str
    min_weight: Decimal | None
    max_weight: Decimal | None
    min_subtotal: Decimal | None
    max_subtotal: Decimal | None
    created_at: datetime
    updated_at: datetime


class ZoneRead(CamelModel):
    id: int
    name: str
    countries: list[ZoneCountryRead]
    rates: list[RateRead]
    created_at: datetime
    updated_at: datetime


class QuoteAddress(InputModel):
    country: CountryCode
    province: CheckedProvince | None = None


class QuoteRequest(InputModel):
    address: QuoteAddress
    weight_grams: Weight
    subtotal: Amount
    currency: Currency


class QuoteRateRead(CamelModel):
    id: int
    shipping_zone_id: int
    name: str
    price: Decimal
    currency: str


class QuoteRead(CamelModel):
    rates: list[QuoteRateRead]

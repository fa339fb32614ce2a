"""Shipping zones, their rates, and which rates apply to an address and a cart.

An address belongs to the zones that name it most closely: a zone naming its province beats
one naming its country, which beats the rest of the world ("*"). Two zones never name the same
code (checked under a lock), so that is one zone. Of its rates, those in the order's currency
whose bounds take the cart apply: weight in grams and subtotal, each from its minimum
(inclusive) up to its maximum (exclusive). Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.kit.shared_reads import cached_settings
from shopdb.models import ShippingRate, ShippingZone
from shopdb.shipping import rules
from shopdb.shipping.errors import (
    ShippingRateNotApplicable,
    ShippingRateNotFound,
    ShippingZoneNotFound,
    ShippingZoneOverlap,
)
from shopdb.shipping.repository import ShippingRateRepository, ShippingZoneRepository
from shopdb.shipping.rules import ZoneCountry


@dataclass(frozen=True)
class ShippingQuote:
    rate_id: int
    zone_id: int
    name: str
    price: Decimal
    currency: str


# --- zones -----------------------------------------------------------------------------------


def _event(
    session: AsyncSession, actor: Subject, kind: str, subject_id: int, verb: str, **body: Any
) -> None:
    record_event(
        session,
        topic=f"shipping_{kind}s/{verb}",
        subject_type=f"Shipping{kind.capitalize()}",
        subject_id=subject_id,
        body={"id": subject_id, **body},
        actor=actor.principal,
    )


def _fail(problems: list[rules.Problem]) -> None:
    if problems:
        raise ValidationFailed(
            "Validation failed", [{"field": field, "message": msg} for field, msg in problems]
        )


def _fields_of_codes(countries: list[ZoneCountry]) -> dict[str, str]:
    """Each stored code and the request field that named it, to point at in a conflict."""
    fields: dict[str, str] = {}
    for position, entry in enumerate(countries):
        if not entry.provinces:
            fields[entry.code] = f"countries[{position}].code"
        for index, province in enumerate(entry.provinces):
            fields[f"{entry.code}-{province}"] = f"countries[{position}].provinces[{index}]"
    return fields


async def _checked_codes(
    session: AsyncSession, countries: list[ZoneCountry], *, zone_id: int | None
) -> list[str]:
    _fail(rules.check_countries(countries))
    codes = rules.encode(countries)
    repository = ShippingZoneRepository(session)
    await repository.lock_for_zone_change()
    fields = _fields_of_codes(countries)
    taken = [
        (fields[code], other_id, code)
        for other_id, other_codes in await repository.countries_of_all()
        if other_id != zone_id
        for code in rules.overlap(codes, other_codes)
    ]
    if taken:
        raise ShippingZoneOverlap(taken)
    return codes


async def get_zone(session: AsyncSession, zone_id: int) -> ShippingZone:
    zone = await ShippingZoneRepository(session).get(zone_id, with_rates=True)
    if zone is None:
        raise ShippingZoneNotFound(zone_id)
    return zone


async def list_zones(session: AsyncSession, *, request: PageRequest) -> RowsPage[ShippingZone]:
    return await ShippingZoneRepository(session).page(request)


async def create_zone(
    session: AsyncSession, actor: Subject, *, name: str, countries: list[ZoneCountry]
) -> ShippingZone:
    codes = await _checked_codes(session, countries, zone_id=None)
    zone = await ShippingZoneRepository(session).add(
        ShippingZone(name=name, countries=codes, rates=[])
    )
    _event(session, actor, "zone", zone.id, "create", name=name, countries=codes)
    return zone


async def update_zone(
    session: AsyncSession,
    actor: Subject,
    zone_id: int,
    *,
    name: str | None = None,
    countries: list[ZoneCountry] | None = None,
) -> ShippingZone:
    zone = await get_zone(session, zone_id)
    changed: list[str] = []
    if countries is not None:
        zone.countries = await _checked_codes(session, countries, zone_id=zone.id)
        changed.append("countries")
    if name is not None:
        zone.name = name
        changed.append("name")
    await session.flush()
    _event(session, actor, "zone", zone.id, "update", changed=changed)
    return await get_zone(session, zone_id)


async def delete_zone(session: AsyncSession, actor: Subject, zone_id: int) -> None:
    zone = await get_zone(session, zone_id)
    await ShippingZoneRepository(session).delete(zone.id)
    _event(session, actor, "zone", zone_id, "delete", name=zone.name)


# --- rates -----------------------------------------------------------------------------------

_BOUNDS = (
    ("min_weight", "max_weight", "minWeight", "maxWeight"),
    ("min_subtotal", "max_subtotal", "minSubtotal", "maxSubtotal"),
)
_REQUIRED = ("name", "price", "currency")
_AMOUNTS = ("price", "min_weight", "max_weight", "min_subtotal", "max_subtotal")
_CENT = Decimal("0.01")


def _exact(fields: dict[str, Any]) -> dict[str, Any]:
    """Amounts as the columns hold them (two places), so an answer reads as a later GET does;
    the schemas allow no more than two places, so nothing is rounded here."""
    return {
        k: v.quantize(_CENT) if k in _AMOUNTS and isinstance(v, Decimal) else v
        for k, v in fields.items()
    }


def _check_rate(rate: ShippingRate) -> None:
    problems: list[rules.Problem] = []
    for low, high, low_field, high_field in _BOUNDS:
        problems += rules.check_range(
            getattr(rate, low), getattr(rate, high), low_field, high_field
        )
    _fail(problems)


async def get_rate(session: AsyncSession, zone_id: int, rate_id: int) -> ShippingRate:
    rate = await ShippingRateRepository(session).get(rate_id)
    if rate is None or rate.shipping_zone_id != zone_id:
        raise ShippingRateNotFound(zone_id, rate_id)
    return rate


async def list_rates(
    session: AsyncSession, zone_id: int, *, request: PageRequest
) -> RowsPage[ShippingRate]:
    await get_zone(session, zone_id)
    return await ShippingRateRepository(session).page_in_zone(zone_id, request)


async def create_rate(
    session: AsyncSession, actor: Subject, zone_id: int, fields: dict[str, Any]
) -> ShippingRate:
    """`fields`: name, price, currency and optionally min/max weight (grams) and subtotal."""
    await get_zone(session, zone_id)
    rate = ShippingRate(shipping_zone_id=zone_id, **_exact(fields))
    _check_rate(rate)
    await ShippingRateRepository(session).add(rate)
    _event(session, actor, "rate", rate.id, "create", shippingZoneId=zone_id, name=rate.name)
    return rate


async def update_rate(
    session: AsyncSession, actor: Subject, zone_id: int, rate_id: int, changes: dict[str, Any]
) -> ShippingRate:
    """Only the given fields change; a bound given as None is removed."""
    rate = await get_rate(session, zone_id, rate_id)
    for field in _REQUIRED:
        if field in changes and changes[field] is None:
            raise ValidationFailed.on(field, "must not be null")
    for field, value in _exact(changes).items():
        setattr(rate, field, value)
    _check_rate(rate)
    await session.flush()
    _event(session, actor, "rate", rate.id, "update", changed=sorted(changes))
    return rate


async def delete_rate(session: AsyncSession, actor: Subject, zone_id: int, rate_id: int) -> None:
    rate = await get_rate(session, zone_id, rate_id)
    await ShippingRateRepository(session).delete(rate.id)
    _event(session, actor, "rate", rate_id, "delete", shippingZoneId=zone_id)


# --- quotes ----------------------------------------------------------------------------------


async def _countries_of_all(session: AsyncSession) -> list[tuple[int, list[str] | None]]:
    """Every zone's codes, through the settings cache (kit/shared_reads.py) when there is one."""

    async def read() -> bytes:
        return orjson.dumps(await ShippingZoneRepository(session).countries_of_all())

    cached = orjson.loads(await cached_settings(session, "shipping-zones", read))
    return [(zone_id, codes) for zone_id, codes in cached]


def _cached_rate(rate: ShippingRate) -> dict[str, Any]:
    return {
        "id": rate.id,
        "shipping_zone_id": rate.shipping_zone_id,
        "name": rate.name,
        "price": str(rate.price),
        "currency": rate.currency,
        **{
            name: None if getattr(rate, name) is None else str(getattr(rate, name))
            for name in ("min_weight", "max_weight", "min_subtotal", "max_subtotal")
        },
    }


def _rate_of(cached: dict[str, Any]) -> ShippingRate:
    """A rate as cached, as a transient row (never added to a session)."""
    decimals = ("price", "min_weight", "max_weight", "min_subtotal", "max_subtotal")
    return ShippingRate(
        **{
            name: Decimal(value) if name in decimals and value is not None else value
            for name, value in cached.items()
        }
    )


async def _rates_in_zones(
    session: AsyncSession, zone_ids: list[int], currency: str
) -> list[ShippingRate]:
    """The zones' rates in `currency`, cheapest first, through the settings cache."""
    if not zone_ids:
        return []

    async def read() -> bytes:
        found = await ShippingRateRepository(session).in_zones(zone_ids, currency)
        return orjson.dumps([_cached_rate(rate) for rate in found])

    key = f"shipping-rates:{currency}:{','.join(map(str, zone_ids))}"
    return [_rate_of(cached) for cached in orjson.loads(await cached_settings(session, key, read))]


async def _closest_zones(session: AsyncSession, country: str, province: str | None) -> list[int]:
    found: dict[rules.Match, list[int]] = {}
    for zone_id, codes in await _countries_of_all(session):
        closeness = rules.match(codes, country, province)
        if closeness is not None:
            found.setdefault(closeness, []).append(zone_id)
    return found[max(found)] if found else []


def _normalise(country: str, province: str | None) -> tuple[str, str | None]:
    return country.strip().upper(), (province or "").strip().upper() or None


def _quote(rate: ShippingRate) -> ShippingQuote:
    return ShippingQuote(
        rate_id=rate.id,
        zone_id=rate.shipping_zone_id,
        name=rate.name,
        price=rate.price,
        currency=rate.currency,
    )


def _range(minimum: Decimal | None, maximum: Decimal | None, unit: str) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"at least {minimum}{unit}")
    if maximum is not None:
        parts.append(f"under {maximum}{unit}")
    return " and ".join(parts)


def _bounds_problem(rate: ShippingRate, weight_grams: Decimal, subtotal: Decimal) -> str | None:
    if not rules.within(weight_grams, rate.min_weight, rate.max_weight):
        return (
            f"applies to weights of {_range(rate.min_weight, rate.max_weight, ' g')}; "
            f"the order weighs {weight_grams} g"
        )
    if not rules.within(subtotal, rate.min_subtotal, rate.max_subtotal):
        return (
            f"applies to subtotals of {_range(rate.min_subtotal, rate.max_subtotal, '')}; "
            f"the order's is {subtotal}"
        )
    return None


async def quote_rates(
    session: AsyncSession,
    *,
    country: str,
    province: str | None,
    weight_grams: Decimal,
    subtotal: Decimal,
    currency: str,
) -> list[ShippingQuote]:
    """The rates that apply to an address and a cart, cheapest first (then by id)."""
    country, province = _normalise(country, province)
    zone_ids = await _closest_zones(session, country, province)
    rates = await _rates_in_zones(session, zone_ids, currency.upper())
    return [_quote(r) for r in rates if _bounds_problem(r, weight_grams, subtotal) is None]


async def rate_for_order(
    session: AsyncSession,
    rate_id: int,
    *,
    country: str,
    province: str | None,
    weight_grams: Decimal,
    subtotal: Decimal,
    currency: str,
    field: str = "shippingRateId",
) -> ShippingQuote:
    """The chosen rate if it applies to this address and cart; otherwise a 400 naming `field`
    (SHIPPING_RATE_NOT_APPLICABLE) that says why."""
    country, province = _normalise(country, province)
    rate = await ShippingRateRepository(session).quoted(rate_id)
    if rate is None:
        raise ShippingRateNotApplicable(field, rate_id, "does not exist")
    if rate.currency != currency.upper():
        raise ShippingRateNotApplicable(
            field, rate_id, f"is priced in {rate.currency}, the order in {currency.upper()}"
        )
    if rate.shipping_zone_id not in await _closest_zones(session, country, province):
        where = f"{country}-{province}" if province else country
        raise ShippingRateNotApplicable(field, rate_id, f"is not offered for shipping to {where}")
    problem = _bounds_problem(rate, weight_grams, subtotal)
    if problem is not None:
        raise ShippingRateNotApplicable(field, rate_id, problem)
    return _quote(rate)

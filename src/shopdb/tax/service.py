"""Tax rates per country and province, and the tax of an order (see tax/rules.py for the
arithmetic). Tax-exclusive by default; tax-inclusive where the country's market region says
so (`market_regions.tax_inclusive_pricing`). Services never commit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.kit.shared_reads import cached_settings
from shopdb.models import TaxRate
from shopdb.tax import rules
from shopdb.tax.errors import TaxRateExists, TaxRateNotFound
from shopdb.tax.repository import MarketRegionReader, TaxRateRepository
from shopdb.tax.rules import TaxLine, TaxResult

__all__ = [
    "TaxLine",
    "TaxResult",
    "compute_tax",
    "create_tax_rate",
    "delete_tax_rate",
    "get_tax_rate",
    "list_tax_rates",
    "update_tax_rate",
]

_REQUIRED = ("country", "name", "rate", "shipping_taxable", "tax_type")
# NUMERIC(6,5): the rate as the column holds it, so an answer reads as a later GET does.
_RATE_QUANTUM = Decimal("0.00001")


def _exact(fields: dict[str, Any]) -> dict[str, Any]:
    if isinstance(fields.get("rate"), Decimal):
        return {**fields, "rate": fields["rate"].quantize(_RATE_QUANTUM)}
    return fields


def _event(session: AsyncSession, actor: Subject, tax_rate_id: int, verb: str, **body: Any) -> None:
    record_event(
        session,
        topic=f"tax_rates/{verb}",
        subject_type="TaxRate",
        subject_id=tax_rate_id,
        body={"id": tax_rate_id, **body},
        actor=actor.principal,
    )


def _check(tax_rate: TaxRate) -> None:
    if tax_rate.province is None and tax_rate.tax_type != "normal":
        raise ValidationFailed.on(
            "taxType",
            "must be normal for a country-wide rate: harmonized and compounded say how a "
            "province rate combines with its country's",
        )


async def _store(session: AsyncSession, tax_rate: TaxRate, *, new: bool) -> TaxRate:
    repository = TaxRateRepository(session)
    # Not flushed before the check: a change onto a taken key would fail in the autoflush.
    with session.no_autoflush:
        taken = await repository.taken(
            tax_rate.country, tax_rate.province, except_id=None if new else tax_rate.id
        )
    if taken:
        raise TaxRateExists(tax_rate.country, tax_rate.province)
    try:
        # A savepoint: the unique keys still decide a race between two writers.
        async with session.begin_nested():
            if new:
                await repository.add(tax_rate)
            else:
                await session.flush()
    except IntegrityError as exc:
        raise TaxRateExists(tax_rate.country, tax_rate.province) from exc
    return tax_rate


async def get_tax_rate(session: AsyncSession, tax_rate_id: int) -> TaxRate:
    tax_rate = await TaxRateRepository(session).get(tax_rate_id)
    if tax_rate is None:
        raise TaxRateNotFound(tax_rate_id)
    return tax_rate


async def list_tax_rates(
    session: AsyncSession, *, country: str | None, request: PageRequest
) -> RowsPage[TaxRate]:
    return await TaxRateRepository(session).page(country=country, request=request)


async def create_tax_rate(session: AsyncSession, actor: Subject, fields: dict[str, Any]) -> TaxRate:
    """`fields`: country, province (None: country-wide), name, rate, shipping_taxable, tax_type."""
    tax_rate = TaxRate(**_exact(fields))
    _check(tax_rate)
    await _store(session, tax_rate, new=True)
    _event(
        session, actor, tax_rate.id, "create", country=tax_rate.country, province=tax_rate.province
    )
    return tax_rate


async def update_tax_rate(
    session: AsyncSession, actor: Subject, tax_rate_id: int, changes: dict[str, Any]
) -> TaxRate:
    tax_rate = await get_tax_rate(session, tax_rate_id)
    for field in _REQUIRED:
        if field in changes and changes[field] is None:
            raise ValidationFailed.on(field, "must not be null")
    for field, value in _exact(changes).items():
        setattr(tax_rate, field, value)
    _check(tax_rate)
    await _store(session, tax_rate, new=False)
    _event(session, actor, tax_rate.id, "update", changed=sorted(changes))
    return tax_rate


async def delete_tax_rate(session: AsyncSession, actor: Subject, tax_rate_id: int) -> None:
    tax_rate = await get_tax_rate(session, tax_rate_id)
    await TaxRateRepository(session).delete(tax_rate.id)
    _event(session, actor, tax_rate_id, "delete", country=tax_rate.country)


def _cached_rate(tax_rate: TaxRate) -> dict[str, Any]:
    return {
        "province": tax_rate.province,
        "name": tax_rate.name,
        "rate": str(tax_rate.rate),
        "shipping_taxable": tax_rate.shipping_taxable,
        "tax_type": tax_rate.tax_type,
    }


def _rule_of(cached: dict[str, Any]) -> rules.RateRule:
    return rules.RateRule(
        name=cached["name"],
        rate=Decimal(cached["rate"]),
        shipping_taxable=cached["shipping_taxable"],
        tax_type=cached["tax_type"],
    )


async def compute_tax(
    session: AsyncSession,
    *,
    country: str,
    province: str | None,
    taxable_amount: Decimal,
    shipping_amount: Decimal,
    currency: str,
) -> TaxResult:
    """The tax of an order shipped to (country, province).

    `taxable_amount`: the taxable lines after discounts; `shipping_amount`: the shipping
    charged. Lines are rounded to cents one by one. `included`: the region prices with tax
    included, so the tax is inside the amounts (`amount - amount / (1 + rate)`) and the caller
    does not add `total` to the order's total.
    """
    country = country.strip().upper()
    province = (province or "").strip().upper() or None

    async def read_rates() -> bytes:
        found = await TaxRateRepository(session).for_address(country, province)
        return orjson.dumps([_cached_rate(r) for r in found])

    async def read_included() -> bytes:
        reader = MarketRegionReader(session)
        return b"1" if await reader.tax_inclusive(country, currency.strip().upper()) else b"0"

    # The shop's settings, through the settings cache (kit/shared_reads.py) when there is one.
    found = orjson.loads(await cached_settings(session, f"tax:{country}:{province}", read_rates))
    country_rate = next((_rule_of(r) for r in found if r["province"] is None), None)
    province_rate = next((_rule_of(r) for r in found if r["province"] is not None), None)
    key = f"tax-inclusive:{country}:{currency.strip().upper()}"
    included = await cached_settings(session, key, read_included) == b"1"
    return rules.compute(
        country_rate,
        province_rate,
        taxable_amount=taxable_amount,
        shipping_amount=shipping_amount,
        included=included,
    )

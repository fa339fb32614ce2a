"""Markets, their regions and currency settings. Services never commit.

A market sets the currency and tax-inclusive pricing of its countries: they are written to
each region when the region is added and whenever the market's change (a region can be set
apart afterwards). Every currency a market or region is priced in is either the shop's own or
has currency settings: checked under a share lock on the settings row (PostgreSQL), so a
concurrent delete of those settings waits and then finds the currency in use (409).

One region per country per market: the unique (market_id, country_code) key decides a race
that the pre-check cannot (409 MARKET_REGION_EXISTS). A country listed by several enabled
markets is priced by the one in the shop's currency, else the oldest (repository.pricing_for).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.etags import check_if_match
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.markets import rules
from shopdb.markets.errors import (
    CurrencyInUse,
    CurrencyNotConfigured,
    CurrencySettingsExist,
    CurrencySettingsNotFound,
    MarketNotFound,
    MarketRegionExists,
    MarketRegionNotFound,
)
from shopdb.markets.repository import CurrencySettingsRepository, MarketRepository
from shopdb.markets.schemas import (
    CurrencySettingsCreate,
    MarketCreate,
    RegionCreate,
)
from shopdb.models import CurrencySettings, Market, MarketRegion

_MARKET_FIELDS = (
    "name",
    "handle",
    "primary_locale",
    "web_presence_id",
    "enabled",
    "currency",
    "tax_inclusive_pricing",
)
_REQUIRED = ("name", "primary_locale", "enabled", "currency", "tax_inclusive_pricing")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _market_event(
    session: AsyncSession, actor: Subject, market: Market, topic: str, **extra: Any
) -> None:
    record_event(
        session,
        topic=topic,
        subject_type="Market",
        subject_id=market.id,
        body={"id": market.id, "name": market.name, "currency": market.currency, **extra},
        actor=actor.principal,
    )


def _settings_event(
    session: AsyncSession, actor: Subject, settings: CurrencySettings, topic: str, **extra: Any
) -> None:
    record_event(
        session,
        topic=topic,
        subject_type="CurrencySettings",
        subject_id=settings.id,
        body={"id": settings.id, "currency": settings.currency, **extra},
        actor=actor.principal,
    )


async def _priceable(session: AsyncSession, currency: str, shop_currency: str, field: str) -> None:
    """422 unless `currency` is the shop's or has settings (held for the transaction)."""
    if currency == shop_currency:
        return
    if not await CurrencySettingsRepository(session).hold(currency):
        raise CurrencyNotConfigured(currency, field)


# --- markets ---------------------------------------------------------------------------------


async def get_market(session: AsyncSession, market_id: int) -> Market:
    market = await MarketRepository(session).get(market_id)
    if market is None:
        raise MarketNotFound(market_id)
    return market


async def list_markets(
    session: AsyncSession, *, enabled: bool | None, country: str | None, request: PageRequest
) -> RowsPage[Market]:
    return await MarketRepository(session).page(enabled=enabled, country=country, request=request)


async def create_market(
    session: AsyncSession, actor: Subject, data: MarketCreate, *, shop_currency: str
) -> Market:
    currency = data.currency or shop_currency
    await _priceable(session, currency, shop_currency, "currency")
    seen: dict[str, int] = {}
    for position, region in enumerate(data.regions):
        if region.country_code in seen:
            raise ValidationFailed.on(
                f"regions[{position}].countryCode",
                f"is listed twice (also regions[{seen[region.country_code]}])",
            )
        seen[region.country_code] = position
        if region.currency is not None:
            await _priceable(
                session, region.currency, shop_currency, f"regions[{position}].currency"
            )
    market = Market(
        name=data.name,
        handle=data.handle,
        primary_locale=data.primary_locale,
        web_presence_id=data.web_presence_id,
        enabled=data.enabled,
        currency=currency,
        tax_inclusive_pricing=data.tax_inclusive_pricing,
        regions=[_region(r, currency, data.tax_inclusive_pricing) for r in data.regions],
    )
    await MarketRepository(session).add(market)
    _market_event(
        session, actor, market, "markets/create", countries=[r.country_code for r in market.regions]
    )
    return market


def _region(data: RegionCreate, currency: str, tax_inclusive: bool) -> MarketRegion:
    return MarketRegion(
        country_code=data.country_code,
        currency=data.currency or currency,
        tax_inclusive_pricing=(
            tax_inclusive if data.tax_inclusive_pricing is None else data.tax_inclusive_pricing
        ),
    )


async def update_market(
    session: AsyncSession,
    actor: Subject,
    market_id: int,
    changes: dict[str, Any],
    *,
    if_match: str | None,
    shop_currency: str,
) -> Market:
    """Apply the fields present in `changes` (snake_case); a new currency or tax-inclusive
    pricing is written to every region. A change that changes nothing writes nothing."""
    repository = MarketRepository(session)
    market = await get_market(session, market_id)
    check_if_match(if_match, market.version)
    for field in _REQUIRED:
        if field in changes and changes[field] is None:
            raise ValidationFailed.on(_camel(field), "must not be null")
    changed = sorted(
        name
        for name in _MARKET_FIELDS
        if name in changes and changes[name] != getattr(market, name)
    )
    if not changed:
        return market
    if "currency" in changed:
        await _priceable(session, changes["currency"], shop_currency, "currency")
    for name in changed:
        setattr(market, name, changes[name])
    await session.flush()
    await repository.set_regions(
        market.id,
        currency=changes["currency"] if "currency" in changed else None,
        tax=changes["tax_inclusive_pricing"] if "tax_inclusive_pricing" in changed else None,
    )
    market = await get_market(session, market.id)
    _market_event(session, actor, market, "markets/update", changed=[_camel(n) for n in changed])
    return market


async def delete_market(
    session: AsyncSession, actor: Subject, market_id: int, *, if_match: str | None
) -> None:
    """The market and its regions (ON DELETE CASCADE); orders priced by it keep their
    presentment amounts."""
    market = await get_market(session, market_id)
    check_if_match(if_match, market.version)
    await MarketRepository(session).delete(market.id)
    _market_event(session, actor, market, "markets/delete")


# --- regions ---------------------------------------------------------------------------------


async def _store_region(session: AsyncSession, region: MarketRegion, *, new: bool) -> None:
    repository = MarketRepository(session)
    with session.no_autoflush:
        taken = await repository.region_taken(
            region.market_id, region.country_code, except_id=None if new else region.id
        )
    if taken:
        raise MarketRegionExists(region.country_code)
    try:
        # A savepoint: the unique key still decides a race between two writers.
        async with session.begin_nested():
            if new:
                await repository.add_region(region)
            else:
                await session.flush()
    except IntegrityError as exc:
        raise MarketRegionExists(region.country_code) from exc


async def get_region(session: AsyncSession, market_id: int, region_id: int) -> MarketRegion:
    region = await MarketRepository(session).region(market_id, region_id)
    if region is None:
        raise MarketRegionNotFound(market_id, region_id)
    return region


async def add_region(
    session: AsyncSession,
    actor: Subject,
    market_id: int,
    data: RegionCreate,
    *,
    shop_currency: str,
) -> MarketRegion:
    market = await get_market(session, market_id)
    currency = market.currency or shop_currency
    region = _region(data, currency, market.tax_inclusive_pricing)
    region.market_id = market.id
    await _priceable(session, region.currency, shop_currency, "currency")
    await _store_region(session, region, new=True)
    _market_event(
        session, actor, market, "markets/update", changed=["regions"], added=region.country_code
    )
    return region


async def update_region(
    session: AsyncSession,
    actor: Subject,
    market_id: int,
    region_id: int,
    changes: dict[str, Any],
    *,
    shop_currency: str,
) -> MarketRegion:
    market = await get_market(session, market_id)
    region = await get_region(session, market_id, region_id)
    for field in ("country_code", "currency", "tax_inclusive_pricing"):
        if field in changes and changes[field] is None:
            raise ValidationFailed.on(_camel(field), "must not be null")
    changed = sorted(name for name, value in changes.items() if getattr(region, name) != value)
    if not changed:
        return region
    if "currency" in changed:
        await _priceable(session, changes["currency"], shop_currency, "currency")
    for name in changed:
        setattr(region, name, changes[name])
    await _store_region(session, region, new=False)
    _market_event(
        session, actor, market, "markets/update", changed=["regions"], region=region.country_code
    )
    return region


async def delete_region(
    session: AsyncSession, actor: Subject, market_id: int, region_id: int
) -> None:
    market = await get_market(session, market_id)
    region = await get_region(session, market_id, region_id)
    await MarketRepository(session).delete_region(region.id)
    _market_event(
        session, actor, market, "markets/update", changed=["regions"], removed=region.country_code
    )


# --- currency settings -----------------------------------------------------------------------


def _check_settings(currency: str, rate: Decimal, rule: str, shop_currency: str) -> None:
    if currency == shop_currency and rate != 1:
        raise ValidationFailed.on(
            "exchangeRate", f"must be 1 for the shop's own currency ({shop_currency})"
        )
    if (problem := rules.rule_problem(rule, currency)) is not None:
        raise ValidationFailed.on("roundingRule", problem)


async def get_currency_settings(session: AsyncSession, settings_id: int) -> CurrencySettings:
    settings = await CurrencySettingsRepository(session).get(settings_id)
    if settings is None:
        raise CurrencySettingsNotFound(settings_id)
    return settings


async def list_currency_settings(
    session: AsyncSession, *, currency: str | None, request: PageRequest
) -> RowsPage[CurrencySettings]:
    return await CurrencySettingsRepository(session).page(currency=currency, request=request)


async def create_currency_settings(
    session: AsyncSession, actor: Subject, data: CurrencySettingsCreate, *, shop_currency: str
) -> CurrencySettings:
    rate = data.exchange_rate.quantize(rules.RATE_QUANTUM)
    _check_settings(data.currency, rate, data.rounding_rule, shop_currency)
    repository = CurrencySettingsRepository(session)
    if await repository.taken(data.currency):
        raise CurrencySettingsExist(data.currency)
    settings = CurrencySettings(
        currency=data.currency, exchange_rate=rate, rounding_rule=data.rounding_rule
    )
    try:
        async with session.begin_nested():
            await repository.add(settings)
    except IntegrityError as exc:
        raise CurrencySettingsExist(data.currency) from exc
    _settings_event(
        session,
        actor,
        settings,
        "currency_settings/create",
        exchangeRate=str(settings.exchange_rate),
        roundingRule=settings.rounding_rule,
    )
    return settings


async def update_currency_settings(
    session: AsyncSession,
    actor: Subject,
    settings_id: int,
    changes: dict[str, Any],
    *,
    if_match: str | None,
    shop_currency: str,
) -> CurrencySettings:
    """A new rate or rule prices orders placed from now on; placed orders keep theirs."""
    settings = await get_currency_settings(session, settings_id)
    check_if_match(if_match, settings.version)
    for field in ("exchange_rate", "rounding_rule"):
        if field in changes and changes[field] is None:
            raise ValidationFailed.on(_camel(field), "must not be null")
    if "exchange_rate" in changes:
        changes = {
            **changes,
            "exchange_rate": changes["exchange_rate"].quantize(rules.RATE_QUANTUM),
        }
    merged = {
        "exchange_rate": changes.get("exchange_rate", settings.exchange_rate),
        "rounding_rule": changes.get("rounding_rule", settings.rounding_rule),
    }
    _check_settings(
        settings.currency, merged["exchange_rate"], merged["rounding_rule"], shop_currency
    )
    changed = sorted(name for name, value in merged.items() if getattr(settings, name) != value)
    if not changed:
        return settings
    for name in changed:
        setattr(settings, name, merged[name])
    await session.flush()
    _settings_event(
        session,
        actor,
        settings,
        "currency_settings/update",
        changed=[_camel(n) for n in changed],
        exchangeRate=str(settings.exchange_rate),
        roundingRule=settings.rounding_rule,
    )
    return settings


async def delete_currency_settings(
    session: AsyncSession, actor: Subject, settings_id: int, *, if_match: str | None
) -> None:
    """409 while a market or region is priced in the currency. The row is locked first
    (PostgreSQL), so a market being priced in it concurrently (holding a share lock) either
    finishes first and is seen here, or waits and then finds no settings (422)."""
    repository = CurrencySettingsRepository(session)
    settings = await repository.get(settings_id, lock=True)
    if settings is None:
        raise CurrencySettingsNotFound(settings_id)
    check_if_match(if_match, settings.version)
    if await repository.in_use(settings.currency):
        raise CurrencyInUse(settings.currency)
    await repository.delete(settings.id)
    _settings_event(session, actor, settings, "currency_settings/delete")

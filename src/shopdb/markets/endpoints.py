"""/api/v1/markets (with their regions) and /api/v1/currency-settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.idempotency import idempotent
from shopdb.kit.countries import CountryCode
from shopdb.kit.etags import etag
from shopdb.kit.parameters import IfMatch, PageQuery
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.markets import service
from shopdb.markets.auth import MarketsRead, MarketsWrite
from shopdb.markets.schemas import (
    Currency,
    CurrencySettingsCreate,
    CurrencySettingsRead,
    CurrencySettingsUpdate,
    MarketCreate,
    MarketRead,
    MarketUpdate,
    RegionCreate,
    RegionRead,
    RegionUpdate,
)
from shopdb.models import CurrencySettings, Market

markets_router = domain_router("/markets", tags=["markets"])
currency_settings_router = domain_router("/currency-settings", tags=["markets"])


def _market(market: Market, shop_currency: str) -> MarketRead:
    return MarketRead(
        id=market.id,
        name=market.name,
        handle=market.handle,
        primary_locale=market.primary_locale,
        web_presence_id=market.web_presence_id,
        enabled=market.enabled,
        currency=market.currency or shop_currency,
        tax_inclusive_pricing=market.tax_inclusive_pricing,
        regions=[RegionRead.model_validate(r) for r in market.regions],
        created_at=market.created_at,
        updated_at=market.updated_at,
    )


def _one_market(
    market: Market, shop_currency: str, *, status_code: int = 200, location: bool = False
) -> Response:
    headers = {"ETag": etag(market.version)}
    if location:
        headers["Location"] = f"/api/v1/markets/{market.id}"
    return model_response(_market(market, shop_currency), status_code=status_code, headers=headers)


def _one_settings(
    settings: CurrencySettings, *, status_code: int = 200, location: bool = False
) -> Response:
    headers = {"ETag": etag(settings.version)}
    if location:
        headers["Location"] = f"/api/v1/currency-settings/{settings.id}"
    return model_response(
        CurrencySettingsRead.model_validate(settings), status_code=status_code, headers=headers
    )


@markets_router.get("", response_model=Page[MarketRead])
async def list_markets(
    _subject: MarketsRead,
    session: SessionDep,
    services: ServicesDep,
    page: PageQuery,
    enabled: bool | None = None,
    country: Annotated[CountryCode | None, Query(description="markets listing the country")] = None,
) -> Page[MarketRead]:
    """By name, then id; `page`/`pageSize`, or `cursor` (each page's nextCursor) for any
    depth; `withTotal=true` adds totalCount."""
    found = await service.list_markets(session, enabled=enabled, country=country, request=page)
    shop_currency = services.settings.order_currency
    return Page[MarketRead](
        items=[_market(m, shop_currency) for m in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@markets_router.post("", status_code=201, response_model=MarketRead)
@idempotent
async def create_market(
    session: SessionDep, subject: MarketsWrite, services: ServicesDep, body: MarketCreate
) -> Response:
    shop_currency = services.settings.order_currency
    market = await service.create_market(session, subject, body, shop_currency=shop_currency)
    market = await service.get_market(session, market.id)
    return _one_market(market, shop_currency, status_code=201, location=True)


@markets_router.get("/{market_id}", response_model=MarketRead)
async def get_market(
    market_id: int, _subject: MarketsRead, session: SessionDep, services: ServicesDep
) -> Response:
    market = await service.get_market(session, market_id)
    return _one_market(market, services.settings.order_currency)


@markets_router.put("/{market_id}", response_model=MarketRead)
async def update_market(
    market_id: int,
    body: MarketUpdate,
    subject: MarketsWrite,
    session: SessionDep,
    services: ServicesDep,
    if_match: IfMatch = None,
) -> Response:
    """Only the fields sent change; a new currency or taxInclusivePricing is written to every
    region. If-Match (the ETag) avoids lost updates: 412 when stale."""
    shop_currency = services.settings.order_currency
    market = await service.update_market(
        session,
        subject,
        market_id,
        body.model_dump(exclude_unset=True, by_alias=False),
        if_match=if_match,
        shop_currency=shop_currency,
    )
    return _one_market(market, shop_currency)


@markets_router.delete("/{market_id}", status_code=204)
async def delete_market(
    market_id: int, subject: MarketsWrite, session: SessionDep, if_match: IfMatch = None
) -> Response:
    await service.delete_market(session, subject, market_id, if_match=if_match)
    return Response(status_code=204)


@markets_router.get("/{market_id}/regions", response_model=list[RegionRead])
async def list_market_regions(
    market_id: int, _subject: MarketsRead, session: SessionDep
) -> list[RegionRead]:
    """The market's countries by id (a market has at most a few hundred)."""
    market = await service.get_market(session, market_id)
    return [RegionRead.model_validate(r) for r in market.regions]


@markets_router.post("/{market_id}/regions", status_code=201, response_model=RegionRead)
@idempotent
async def create_market_region(
    market_id: int,
    session: SessionDep,
    subject: MarketsWrite,
    services: ServicesDep,
    body: RegionCreate,
) -> Response:
    """409 MARKET_REGION_EXISTS when the market already lists the country."""
    region = await service.add_region(
        session, subject, market_id, body, shop_currency=services.settings.order_currency
    )
    return model_response(RegionRead.model_validate(region), status_code=201)


@markets_router.get("/{market_id}/regions/{region_id}", response_model=RegionRead)
async def get_market_region(
    market_id: int, region_id: int, _subject: MarketsRead, session: SessionDep
) -> RegionRead:
    return RegionRead.model_validate(await service.get_region(session, market_id, region_id))


@markets_router.put("/{market_id}/regions/{region_id}", response_model=RegionRead)
async def update_market_region(
    market_id: int,
    region_id: int,
    body: RegionUpdate,
    subject: MarketsWrite,
    session: SessionDep,
    services: ServicesDep,
) -> RegionRead:
    region = await service.update_region(
        session,
        subject,
        market_id,
        region_id,
        body.model_dump(exclude_unset=True, by_alias=False),
        shop_currency=services.settings.order_currency,
    )
    return RegionRead.model_validate(region)


@markets_router.delete("/{market_id}/regions/{region_id}", status_code=204)
async def delete_market_region(
    market_id: int, region_id: int, subject: MarketsWrite, session: SessionDep
) -> Response:
    await service.delete_region(session, subject, market_id, region_id)
    return Response(status_code=204)


# --- currency settings -----------------------------------------------------------------------


@currency_settings_router.get("", response_model=Page[CurrencySettingsRead])
async def list_currency_settings(
    _subject: MarketsRead,
    session: SessionDep,
    page: PageQuery,
    currency: Currency | None = None,
) -> Page[CurrencySettingsRead]:
    """By currency code; `page`/`pageSize`, or `cursor` for any depth; `withTotal=true` adds
    totalCount."""
    found = await service.list_currency_settings(session, currency=currency, request=page)
    return Page[CurrencySettingsRead](
        items=[CurrencySettingsRead.model_validate(s) for s in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@currency_settings_router.post("", status_code=201, response_model=CurrencySettingsRead)
@idempotent
async def create_currency_settings(
    session: SessionDep, subject: MarketsWrite, services: ServicesDep, body: CurrencySettingsCreate
) -> Response:
    """409 CURRENCY_SETTINGS_EXIST when the currency has settings already."""
    settings = await service.create_currency_settings(
        session, subject, body, shop_currency=services.settings.order_currency
    )
    return _one_settings(settings, status_code=201, location=True)


@currency_settings_router.get("/{settings_id}", response_model=CurrencySettingsRead)
async def get_currency_settings(
    settings_id: int, _subject: MarketsRead, session: SessionDep
) -> Response:
    return _one_settings(await service.get_currency_settings(session, settings_id))


@currency_settings_router.put("/{settings_id}", response_model=CurrencySettingsRead)
async def update_currency_settings(
    settings_id: int,
    body: CurrencySettingsUpdate,
    subject: MarketsWrite,
    session: SessionDep,
    services: ServicesDep,
    if_match: IfMatch = None,
) -> Response:
    """A new rate or rounding rule prices orders placed from now on; placed orders keep
    theirs. If-Match (the ETag): 412 when stale."""
    settings = await service.update_currency_settings(
        session,
        subject,
        settings_id,
        body.model_dump(exclude_unset=True, by_alias=False),
        if_match=if_match,
        shop_currency=services.settings.order_currency,
    )
    return _one_settings(settings)


@currency_settings_router.delete("/{settings_id}", status_code=204)
async def delete_currency_settings(
    settings_id: int, subject: MarketsWrite, session: SessionDep, if_match: IfMatch = None
) -> Response:
    """409 CURRENCY_IN_USE while a market or region is priced in the currency."""
    await service.delete_currency_settings(session, subject, settings_id, if_match=if_match)
    return Response(status_code=204)

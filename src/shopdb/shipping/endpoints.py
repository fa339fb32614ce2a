"""/api/v1/shipping-zones (with their rates) and /api/v1/shipping-rates/quote."""

from __future__ import annotations

from fastapi import Response

from shopdb.dependencies import SessionDep
from shopdb.errors import ValidationFailed
from shopdb.kit.parameters import PageQuery
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.models import ShippingRate, ShippingZone
from shopdb.shipping import rules, service
from shopdb.shipping.auth import ShippingQuoter, ShippingRead, ShippingWrite
from shopdb.shipping.schemas import (
    QuoteRateRead,
    QuoteRead,
    QuoteRequest,
    RateCreate,
    RateRead,
    RateUpdate,
    ZoneCountryIn,
    ZoneCountryRead,
    ZoneCreate,
    ZoneRead,
    ZoneUpdate,
)

shipping_zones_router = domain_router("/shipping-zones", tags=["shipping"])
shipping_quotes_router = domain_router("/shipping-rates", tags=["shipping"])


def _countries(countries: list[ZoneCountryIn]) -> list[rules.ZoneCountry]:
    return [rules.ZoneCountry(c.code, tuple(c.provinces)) for c in countries]


def _rate(rate: ShippingRate) -> RateRead:
    return RateRead.model_validate(rate)


def _zone(zone: ShippingZone) -> ZoneRead:
    return ZoneRead(
        id=zone.id,
        name=zone.name,
        countries=[
            ZoneCountryRead(code=c.code, provinces=list(c.provinces))
            for c in rules.decode(zone.countries)
        ],
        rates=[_rate(r) for r in zone.rates],
        created_at=zone.created_at,
        updated_at=zone.updated_at,
    )


@shipping_zones_router.get("", response_model=Page[ZoneRead])
async def list_shipping_zones(
    _subject: ShippingRead, session: SessionDep, page: PageQuery
) -> Page[ZoneRead]:
    """By name, then id; `page`/`pageSize`, or `cursor` (each page's nextCursor) for any
    depth; `withTotal=true` adds totalCount."""
    found = await service.list_zones(session, request=page)
    return Page[ZoneRead](
        items=[_zone(z) for z in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@shipping_zones_router.post("", status_code=201, response_model=ZoneRead)
async def create_shipping_zone(
    body: ZoneCreate, subject: ShippingWrite, session: SessionDep
) -> ZoneRead:
    zone = await service.create_zone(
        session, subject, name=body.name, countries=_countries(body.countries)
    )
    return _zone(zone)


@shipping_zones_router.get("/{zone_id}", response_model=ZoneRead)
async def get_shipping_zone(zone_id: int, _subject: ShippingRead, session: SessionDep) -> ZoneRead:
    return _zone(await service.get_zone(session, zone_id))


@shipping_zones_router.put("/{zone_id}", response_model=ZoneRead)
async def update_shipping_zone(
    zone_id: int, body: ZoneUpdate, subject: ShippingWrite, session: SessionDep
) -> ZoneRead:
    for field in ("name", "countries"):
        if field in body.model_fields_set and getattr(body, field) is None:
            raise ValidationFailed.on(field, "must not be null")
    zone = await service.update_zone(
        session,
        subject,
        zone_id,
        name=body.name,
        countries=None if body.countries is None else _countries(body.countries),
    )
    return _zone(zone)


@shipping_zones_router.delete("/{zone_id}", status_code=204)
async def delete_shipping_zone(
    zone_id: int, subject: ShippingWrite, session: SessionDep
) -> Response:
    await service.delete_zone(session, subject, zone_id)
    return Response(status_code=204)


@shipping_zones_router.get("/{zone_id}/rates", response_model=Page[RateRead])
async def list_shipping_rates(
    zone_id: int, _subject: ShippingRead, session: SessionDep, page: PageQuery
) -> Page[RateRead]:
    """The zone's rates by id; `page`/`pageSize`, or `cursor` for any depth; `withTotal=true`
    adds totalCount."""
    found = await service.list_rates(session, zone_id, request=page)
    return Page[RateRead](
        items=[_rate(r) for r in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@shipping_zones_router.post("/{zone_id}/rates", status_code=201, response_model=RateRead)
async def create_shipping_rate(
    zone_id: int, body: RateCreate, subject: ShippingWrite, session: SessionDep
) -> RateRead:
    fields = body.model_dump(by_alias=False)
    return _rate(await service.create_rate(session, subject, zone_id, fields))


@shipping_zones_router.get("/{zone_id}/rates/{rate_id}", response_model=RateRead)
async def get_shipping_rate(
    zone_id: int, rate_id: int, _subject: ShippingRead, session: SessionDep
) -> RateRead:
    return _rate(await service.get_rate(session, zone_id, rate_id))


@shipping_zones_router.put("/{zone_id}/rates/{rate_id}", response_model=RateRead)
async def update_shipping_rate(
    zone_id: int, rate_id: int, body: RateUpdate, subject: ShippingWrite, session: SessionDep
) -> RateRead:
    changes = body.model_dump(exclude_unset=True, by_alias=False)
    return _rate(await service.update_rate(session, subject, zone_id, rate_id, changes))


@shipping_zones_router.delete("/{zone_id}/rates/{rate_id}", status_code=204)
async def delete_shipping_rate(
    zone_id: int, rate_id: int, subject: ShippingWrite, session: SessionDep
) -> Response:
    await service.delete_rate(session, subject, zone_id, rate_id)
    return Response(status_code=204)


@shipping_quotes_router.post("/quote", response_model=QuoteRead)
async def quote_shipping_rates(
    body: QuoteRequest, _subject: ShippingQuoter, session: SessionDep
) -> QuoteRead:
    quotes = await service.quote_rates(
        session,
        country=body.address.country,
        province=body.address.province,
        weight_grams=body.weight_grams,
        subtotal=body.subtotal,
        currency=body.currency,
    )
    return QuoteRead(
        rates=[
            QuoteRateRead(
                id=q.rate_id,
                shipping_zone_id=q.zone_id,
                name=q.name,
                price=q.price,
                currency=q.currency,
            )
            for q in quotes
        ]
    )

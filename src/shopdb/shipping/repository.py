"""Every query on shipping zones and rates."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shopdb.kit import prepared
from shopdb.kit.models import attach_loaded
from shopdb.kit.pagination import PageRequest, RowsPage, read_requested_page
from shopdb.models import ShippingRate, ShippingZone

# The rate an order names, read whole in every placement and checkout (kit.prepared runs it).
_RATES = cast(Table, ShippingRate.__table__)
_QUOTED_RATE: Any = select(_RATES).where(_RATES.c.id == bindparam("rate_id"))


class ShippingZoneRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_for_zone_change(self) -> None:
        """Serialise changes to zones' countries, so two writers cannot both pass the overlap
        check and then both name the same country.

        SHARE ROW EXCLUSIVE conflicts with itself and with writes, not with plain reads:
        quotes go on while a zone changes. Zones change rarely, and one writer at a time is
        what the rule needs. SQLite already admits one writer at a time; a second one that read
        before the first committed fails to write rather than passing on a stale read.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                text("LOCK TABLE shipping_zones IN SHARE ROW EXCLUSIVE MODE")
            )

    async def get(self, zone_id: int, *, with_rates: bool = False) -> ShippingZone | None:
        statement = select(ShippingZone).where(ShippingZone.id == zone_id)
        if with_rates:
            statement = statement.options(selectinload(ShippingZone.rates))
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def page(self, request: PageRequest) -> RowsPage[ShippingZone]:
        """By name, then id (names need not be unique), with each zone's rates in one more
        query for the whole page."""
        return await read_requested_page(
            self.session,
            select(ShippingZone).options(selectinload(ShippingZone.rates)),
            request,
            sort_column=ShippingZone.name,
            id_column=ShippingZone.id,
            sort_name="name",
            key_type=str,
        )

    async def countries_of_all(self) -> list[tuple[int, list[str] | None]]:
        """Every zone's codes: a shop has tens of zones, and JSON arrays are matched the same
        way on both backends in Python, not with JSONB operators SQLite lacks."""
        result = await self.session.execute(
            select(ShippingZone.id, ShippingZone.countries).order_by(ShippingZone.id)
        )
        return [(zone_id, countries) for zone_id, countries in result.all()]

    async def add(self, zone: ShippingZone) -> ShippingZone:
        self.session.add(zone)
        await self.session.flush()
        return zone

    async def delete(self, zone_id: int) -> None:
        # Its rates go with it (ON DELETE CASCADE).
        await self.session.execute(delete(ShippingZone).where(ShippingZone.id == zone_id))


class ShippingRateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, rate_id: int) -> ShippingRate | None:
        return await self.session.get(ShippingRate, rate_id)

    async def quoted(self, rate_id: int) -> ShippingRate | None:
        """The rate as `get` gives it (the session's object, refreshed), read by one prepared
        statement rather than the ORM's load: for the rate of an order being placed."""
        rows = await prepared.fetch_in_transaction(self.session, _QUOTED_RATE, {"rate_id": rate_id})
        if not rows:
            return None
        found: ShippingRate = attach_loaded(self.session, ShippingRate, rows[0])
        return found

    async def page_in_zone(self, zone_id: int, request: PageRequest) -> RowsPage[ShippingRate]:
        """A zone's rates by id."""
        return await read_requested_page(
            self.session,
            select(ShippingRate).where(ShippingRate.shipping_zone_id == zone_id),
            request,
            sort_column=ShippingRate.id,
            id_column=ShippingRate.id,
        )

    async def in_zones(self, zone_ids: list[int], currency: str) -> list[ShippingRate]:
        if not zone_ids:
            return []
        result = await self.session.execute(
            select(ShippingRate)
            .where(ShippingRate.shipping_zone_id.in_(zone_ids), ShippingRate.currency == currency)
            .order_by(ShippingRate.price, ShippingRate.id)
        )
        return list(result.scalars())

    async def add(self, rate: ShippingRate) -> ShippingRate:
        self.session.add(rate)
        await self.session.flush()
        return rate

    async def delete(self, rate_id: int) -> None:
        await self.session.execute(delete(ShippingRate).where(ShippingRate.id == rate_id))

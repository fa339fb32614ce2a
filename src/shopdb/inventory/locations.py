"""Locations: create, update, deactivate, and delete only while nothing was ever stocked there."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import NotFound
from shopdb.events.service import record_event
from shopdb.inventory.errors import LocationHasStock
from shopdb.inventory.repository import LocationRepository
from shopdb.inventory.schemas import LocationCreate, LocationUpdate
from shopdb.models import Location


def _body(location: Location) -> dict[str, object]:
    return {"id": location.id, "name": location.name, "active": location.active}


async def get_location(session: AsyncSession, location_id: int) -> Location:
    location = await LocationRepository(session).get(location_id)
    if location is None:
        raise NotFound.resource("Location", location_id)
    return location


async def create_location(
    session: AsyncSession, data: LocationCreate, *, actor: str | None
) -> Location:
    location = await LocationRepository(session).add(Location(**data.model_dump()))
    record_event(
        session,
        topic="locations/create",
        subject_type="Location",
        subject_id=location.id,
        body=_body(location),
        actor=actor,
    )
    return location


async def update_location(
    session: AsyncSession, location_id: int, data: LocationUpdate, *, actor: str | None
) -> Location:
    """Deactivating (`active: false`) keeps the location's levels and adjustment history."""
    location = await get_location(session, location_id)
    for name in data.model_fields_set:
        value = getattr(data, name)
        if name in ("name", "active") and value is None:
            continue
        setattr(location, name, value)
    await session.flush()
    record_event(
        session,
        topic="locations/update",
        subject_type="Location",
        subject_id=location.id,
        body=_body(location),
        actor=actor,
    )
    return location


async def delete_location(session: AsyncSession, location_id: int, *, actor: str | None) -> None:
    repository = LocationRepository(session)
    location = await get_location(session, location_id)
    if await repository.has_stock_history(location_id):
        raise LocationHasStock(location_id)
    body = _body(location)
    await repository.delete(location)
    record_event(
        session,
        topic="locations/delete",
        subject_type="Location",
        subject_id=location_id,
        body=body,
        actor=actor,
    )

"""Locations: create, update, deactivate, and delete only while nothing was ever stocked there."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import NotFound
from shopdb.events.service import record_event
from shopdb.inventory.errors import LocationHasStock
from shopdb.inventory.repository import LocationRepository
from shopdb.inventory.schemas import LocationCreate, LocationOut, LocationUpdate
from shopdb.kit.pagination import PageRequest
from shopdb.models import Location

if TYPE_CHECKING:
    # The type only: the cache is handed in by the endpoint (Services.location_cache).
    from shopdb.catalog.read_model.cache import DocumentCache


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


# --- reads, through the location cache (Services.location_cache) ----------------------------
#
# Locations are read on every stock screen and fulfillment and change rarely: with a cache
# (PostgreSQL + Redis, catalog/read_model/cache.py's machinery, kind LOCATIONS) a location's
# JSON and the ids of each list page are kept in Redis (documents in each worker's memory too).
# Every write of a location row is noted in the change journal by a flush listener
# (inventory/changes.py) and forgotten after its commit; a creation, deletion or change of
# `active` moves every list page. Never stale: cached lists have no staleness bound.


def _document(location: Location) -> bytes:
    return LocationOut.model_validate(location).model_dump_json(by_alias=True).encode()


def _documents(
    session: AsyncSession,
) -> Callable[[list[int]], Awaitable[dict[int, tuple[bytes, int]]]]:
    """What builds the documents of the locations that exist among some ids."""

    async def build(ids: list[int]) -> dict[int, tuple[bytes, int]]:
        found = await LocationRepository(session).many(ids)
        return {location.id: (_document(location), 0) for location in found}

    return build


async def location_document(
    session: AsyncSession, location_id: int, cache: DocumentCache | None = None
) -> bytes:
    """The location's LocationOut as JSON bytes (404 if there is none)."""
    if cache is None or not cache.usable():
        return _document(await get_location(session, location_id))
    found = (await cache.read_through(session, [location_id], _documents(session))).get(location_id)
    if found is None:
        raise NotFound.resource("Location", location_id)
    return found[0]


@dataclass(frozen=True)
class LocationDocuments:
    items: list[bytes]
    total: int | None
    next_cursor: str | None


async def list_location_documents(
    session: AsyncSession,
    *,
    active: bool | None,
    request: PageRequest,
    cache: DocumentCache | None = None,
) -> LocationDocuments:
    """A page of locations (by id) as JSON documents."""
    repository = LocationRepository(session)
    if cache is None or not cache.usable():
        found = await repository.list(active=active, request=request)
        return LocationDocuments(
            [_document(loc) for loc in found.rows], found.total, found.next_cursor
        )

    async def read() -> tuple[Sequence[int], int | None, str | None]:
        ids = await repository.page_ids(active=active, request=request)
        return ids.rows, ids.total, ids.next_cursor

    parts = (active, request.page, request.page_size, request.cursor, request.with_total)
    key = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    page = await cache.page(session, key, read)
    documents = await cache.read_through(session, page.ids, _documents(session))
    # A location deleted between the two reads is left out rather than failing the page.
    items = [documents[i][0] for i in page.ids if i in documents]
    return LocationDocuments(items, page.total, page.next_cursor)

"""/api/v1/locations, /api/v1/inventory-items and /api/v1/inventory-levels."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import Query, Request, Response

from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.errors import ValidationFailed
from shopdb.idempotency import idempotent, in_effect
from shopdb.inventory import items, locations, service
from shopdb.inventory.auth import InventoryRead, InventoryWrite
from shopdb.inventory.batching import commit_adjustment_now
from shopdb.inventory.repository import InventoryLevelRepository, LevelRow
from shopdb.inventory.schemas import (
    AdjustInventory,
    ConnectInventory,
    InventoryItemOut,
    InventoryItemUpdate,
    InventoryLevelOut,
    LocationCreate,
    LocationOut,
    LocationUpdate,
    MoveInventory,
    SetInventory,
)
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.kit.parameters import PageQuery
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page

locations_router = domain_router("/locations", tags=["inventory"])
items_router = domain_router("/inventory-items", tags=["inventory"])
levels_router = domain_router("/inventory-levels", tags=["inventory"])

MAX_IDS = 250


def level_out(level: LevelRow) -> InventoryLevelOut:
    return InventoryLevelOut(
        inventory_item_id=level.inventory_item_id,
        location_id=level.location_id,
        available=level.available,
        committed=level.committed,
        incoming=level.incoming,
        reserved=level.reserved,
        damaged=level.damaged,
        safety_stock=level.safety_stock,
        quality_control=level.quality_control,
        unavailable=level.unavailable,
        on_hand=level.on_hand,
        updated_at=level.updated_at,
    )


def parse_ids(raw: str | None, field: str) -> list[int] | None:
    """`1,2,3` -> [1, 2, 3]; anything but positive integers is a 400 naming the parameter."""
    if raw is None or not raw.strip():
        return None
    ids: list[int] = []
    for part in raw.split(","):
        text = part.strip()
        if not text.isdigit() or int(text) < 1:
            raise ValidationFailed.on(field, f"{text!r} is not a positive integer id")
        ids.append(int(text))
    if len(ids) > MAX_IDS:
        raise ValidationFailed.on(field, f"at most {MAX_IDS} ids")
    return ids


# --- locations -----------------------------------------------------------------------------


@locations_router.get("", response_model=Page[LocationOut])
async def list_locations(
    session: SessionDep,
    _: InventoryRead,
    page: PageQuery,
    services: ServicesDep,
    active: bool | None = None,
) -> Response:
    """By id."""
    found = await locations.list_location_documents(
        session, active=active, request=page, cache=services.location_cache
    )
    # The items are JSON documents already (cached ones as they were stored).
    envelope = {
        "items": [orjson.Fragment(item) for item in found.items],
        "totalCount": found.total,
        "page": page.page,
        "pageSize": page.page_size,
        "nextCursor": found.next_cursor,
    }
    return Response(orjson.dumps(envelope), media_type="application/json")


@locations_router.post("", status_code=201, response_model=LocationOut)
async def create_location(
    session: SessionDep, subject: InventoryWrite, data: LocationCreate
) -> LocationOut:
    location = await locations.create_location(session, data, actor=subject.principal)
    return LocationOut.model_validate(location)


@locations_router.get("/{location_id}", response_model=LocationOut)
async def get_location(
    session: SessionDep, _: InventoryRead, services: ServicesDep, location_id: int
) -> Response:
    document = await locations.location_document(session, location_id, services.location_cache)
    return Response(document, media_type="application/json")


@locations_router.put("/{location_id}", response_model=LocationOut)
async def update_location(
    session: SessionDep, subject: InventoryWrite, location_id: int, data: LocationUpdate
) -> LocationOut:
    """Update; `active: false` deactivates and keeps the location's levels and history."""
    location = await locations.update_location(session, location_id, data, actor=subject.principal)
    return LocationOut.model_validate(location)


@locations_router.delete("/{location_id}", status_code=204, response_class=Response)
async def delete_location(
    session: SessionDep, subject: InventoryWrite, location_id: int
) -> Response:
    """Only a location that never held stock can be deleted (409 otherwise: deactivate it)."""
    await locations.delete_location(session, location_id, actor=subject.principal)
    return Response(status_code=204)


@locations_router.get("/{location_id}/inventory-levels", response_model=Page[InventoryLevelOut])
async def list_location_levels(
    session: SessionDep,
    _: InventoryRead,
    location_id: int,
    page: PageQuery,
) -> Page[InventoryLevelOut]:
    """By inventory item id."""
    await locations.get_location(session, location_id)
    found = await InventoryLevelRepository(session).list(
        item_ids=None, location_ids=[location_id], request=page
    )
    return _levels_page(found, page)


# --- inventory items -----------------------------------------------------------------------


@items_router.get("/{item_id}", response_model=InventoryItemOut)
async def get_inventory_item(
    session: SessionDep, _: InventoryRead, item_id: int
) -> InventoryItemOut:
    return InventoryItemOut.model_validate(await items.get_item(session, item_id))


@items_router.put("/{item_id}", response_model=InventoryItemOut)
async def update_inventory_item(
    session: SessionDep, subject: InventoryWrite, item_id: int, data: InventoryItemUpdate
) -> InventoryItemOut:
    item = await items.update_item(session, item_id, data, actor=subject.principal)
    return InventoryItemOut.model_validate(item)


# --- inventory levels ----------------------------------------------------------------------


def _levels_page(found: RowsPage[LevelRow], page: PageRequest) -> Page[InventoryLevelOut]:
    return Page[InventoryLevelOut](
        items=[level_out(r) for r in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@levels_router.get("", response_model=Page[InventoryLevelOut])
async def list_inventory_levels(
    session: SessionDep,
    _: InventoryRead,
    page: PageQuery,
    inventory_item_ids: Annotated[str | None, Query(alias="inventoryItemIds")] = None,
    location_ids: Annotated[str | None, Query(alias="locationIds")] = None,
) -> Page[InventoryLevelOut]:
    """Levels by comma-separated item and/or location ids, ordered by (item, location)."""
    found = await InventoryLevelRepository(session).list(
        item_ids=parse_ids(inventory_item_ids, "inventoryItemIds"),
        location_ids=parse_ids(location_ids, "locationIds"),
        request=page,
    )
    return _levels_page(found, page)


@levels_router.post("/adjust", response_model=InventoryLevelOut)
@idempotent
async def adjust_inventory(
    request: Request,
    session: SessionDep,
    subject: InventoryWrite,
    data: AdjustInventory,
    services: ServicesDep,
) -> Response:
    """Add `availableAdjustment` (may be negative), or `delta` to the state `name`, atomically.

    Below zero is a 409, except `available` of a variant sold beyond its stock (inventory
    policy `continue`, or an untracked item). `reason` is one of Shopify's (400 otherwise).

    On PostgreSQL an adjustment of `available` goes to the database with the adjustments
    arriving at the same time, and commits by itself (inventory/batching.py); the session only
    explains a refusal. With an Idempotency-Key, or for another state, it goes through the
    session instead: the stored response must commit in the same transaction as the
    adjustment, and the batch runs one statement built for `available`.
    """
    name, delta, field = data.state_change()
    adjustments = services.adjustments
    if adjustments is not None and name == "available" and not in_effect(request):
        level = await commit_adjustment_now(
            adjustments,
            session,
            inventory_item_id=data.inventory_item_id,
            location_id=data.location_id,
            delta=delta,
            reason=data.reason,
            note=data.note,
            actor=subject.principal,
            field=field,
        )
    else:
        level = await service.adjust_quantity(
            session,
            inventory_item_id=data.inventory_item_id,
            location_id=data.location_id,
            name=name,
            delta=delta,
            reason=data.reason,
            note=data.note,
            actor=subject.principal,
            field=field,
        )
    # Serialised here: FastAPI would validate the model it was just built from a second time.
    return model_response(level_out(level))


@levels_router.post("/move", response_model=InventoryLevelOut)
@idempotent
async def move_inventory(
    session: SessionDep, subject: InventoryWrite, data: MoveInventory
) -> Response:
    """Move `quantity` units between two states of one level (`from` -> `to`), as Shopify's
    inventoryMoveQuantities; 409 INSUFFICIENT_INVENTORY (naming `quantity`) when `from` holds
    fewer units, whatever the variant's policy."""
    level = await service.move_quantity(
        session,
        inventory_item_id=data.inventory_item_id,
        location_id=data.location_id,
        quantity=data.quantity,
        from_name=data.from_,
        to_name=data.to,
        reason=data.reason,
        note=data.note,
        actor=subject.principal,
    )
    return model_response(level_out(level))


@levels_router.post("/set", response_model=InventoryLevelOut)
@idempotent
async def set_inventory(
    session: SessionDep, subject: InventoryWrite, data: SetInventory
) -> Response:
    """Set `available` absolutely, connecting the item to the location if needed.

    With `compareQuantity`, only if the level holds exactly that many available units (a
    missing level holds 0): 409 COMPARE_QUANTITY_STALE otherwise, decided by the same single
    statement that writes, so of concurrent sets with one compareQuantity exactly one wins.
    """
    level = await service.set_available(
        session,
        inventory_item_id=data.inventory_item_id,
        location_id=data.location_id,
        available=data.available,
        compare_quantity=data.compare_quantity,
        reason=data.reason,
        note=data.note,
        actor=subject.principal,
    )
    return model_response(level_out(level))


@levels_router.post("/connect", response_model=InventoryLevelOut)
async def connect_inventory(
    session: SessionDep, subject: InventoryWrite, data: ConnectInventory, response: Response
) -> InventoryLevelOut:
    """Stock the item at the location at zero; 201 when created, 200 when already there."""
    level, created = await service.connect(
        session,
        inventory_item_id=data.inventory_item_id,
        location_id=data.location_id,
        actor=subject.principal,
    )
    response.status_code = 201 if created else 200
    return level_out(level)


@levels_router.post("/disconnect", status_code=204, response_class=Response)
async def disconnect_inventory(
    session: SessionDep, subject: InventoryWrite, data: ConnectInventory
) -> Response:
    """Remove the level; refused (409) while it holds committed units."""
    await service.disconnect(
        session,
        inventory_item_id=data.inventory_item_id,
        location_id=data.location_id,
        actor=subject.principal,
    )
    return Response(status_code=204)

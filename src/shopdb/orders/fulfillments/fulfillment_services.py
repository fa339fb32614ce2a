"""Fulfillment services: third parties that ship an order's units from their location.

A service with a `locationId` takes the fulfillment orders of the lines committed at that
location when orders are placed. The built-in `manual` service (the merchant's own
locations) cannot be changed or deleted; a service that fulfillment orders name cannot be
deleted either (the seed's foreign key has no ON DELETE rule).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.models import FulfillmentService
from shopdb.models.fulfillments import MANUAL_SERVICE_HANDLE
from shopdb.orders.fulfillments.errors import (
    FulfillmentServiceBuiltIn,
    FulfillmentServiceHandleTaken,
    FulfillmentServiceInUse,
    FulfillmentServiceNotFound,
)
from shopdb.orders.fulfillments.repository import FulfillmentRepository
from shopdb.orders.fulfillments.schemas import (
    FulfillmentServiceCreate,
    FulfillmentServiceRead,
    FulfillmentServiceUpdate,
)

THIRD_PARTY = "third_party"


def _handle_of(name: str) -> str:
    handle = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return handle or "service"


def service_read(service: FulfillmentService) -> FulfillmentServiceRead:
    return FulfillmentServiceRead.model_validate(service)


async def list_services(session: AsyncSession) -> list[FulfillmentServiceRead]:
    return [service_read(s) for s in await FulfillmentRepository(session).services()]


async def _get(repository: FulfillmentRepository, service_id: int) -> FulfillmentService:
    found = await repository.service(service_id)
    if found is None:
        raise FulfillmentServiceNotFound(service_id)
    return found


async def get_service(session: AsyncSession, service_id: int) -> FulfillmentServiceRead:
    return service_read(await _get(FulfillmentRepository(session), service_id))


async def _check_location(repository: FulfillmentRepository, location_id: int | None) -> None:
    if location_id is not None and not await repository.location_exists(location_id):
        raise ValidationFailed.on("locationId", "does not exist")


async def create_service(
    session: AsyncSession, data: FulfillmentServiceCreate, *, actor: str | None = None
) -> FulfillmentServiceRead:
    repository = FulfillmentRepository(session)
    handle = data.handle or _handle_of(data.name)
    if await repository.handle_taken(handle):
        raise FulfillmentServiceHandleTaken(handle)
    await _check_location(repository, data.location_id)
    service = await repository.add_service(
        FulfillmentService(
            name=data.name,
            handle=handle,
            service_type=THIRD_PARTY,
            format=data.format,
            location_id=data.location_id,
            inventory_management=data.inventory_management,
            tracking_support=data.tracking_support,
        )
    )
    read = service_read(service)
    _event(session, "fulfillment_services/create", read, actor)
    return read


async def update_service(
    session: AsyncSession,
    service_id: int,
    data: FulfillmentServiceUpdate,
    *,
    now: datetime,
    actor: str | None = None,
) -> FulfillmentServiceRead:
    repository = FulfillmentRepository(session)
    service = await _get(repository, service_id)
    if service.handle == MANUAL_SERVICE_HANDLE:
        raise FulfillmentServiceBuiltIn
    given = data.model_fields_set
    if "location_id" in given:
        await _check_location(repository, data.location_id)
        service.location_id = data.location_id
    for field in ("name", "format", "inventory_management", "tracking_support"):
        value = getattr(data, field)
        if field in given and value is not None:
            setattr(service, field, value)
    service.updated_at = now
    await session.flush()
    read = service_read(service)
    _event(session, "fulfillment_services/update", read, actor)
    return read


async def delete_service(
    session: AsyncSession, service_id: int, *, actor: str | None = None
) -> None:
    repository = FulfillmentRepository(session)
    service = await _get(repository, service_id)
    if service.handle == MANUAL_SERVICE_HANDLE:
        raise FulfillmentServiceBuiltIn
    if await repository.service_in_use(service_id):
        raise FulfillmentServiceInUse(service_id)
    read = service_read(service)
    await repository.delete_service(service)
    _event(session, "fulfillment_services/delete", read, actor)


def _event(
    session: AsyncSession, topic: str, read: FulfillmentServiceRead, actor: str | None
) -> None:
    record_event(
        session,
        topic=topic,
        subject_type="FulfillmentService",
        subject_id=read.id,
        body=read.model_dump(mode="json", by_alias=True),
        actor=actor,
    )

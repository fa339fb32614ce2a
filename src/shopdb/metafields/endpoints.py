"""/api/v1/metafields and /api/v1/metafield-definitions.

The dependencies check metafields:read|write; the owner's own permission (products, customers,
orders, inventory) depends on the owner, so the service checks it (metafields.access).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from shopdb.dependencies import SessionDep
from shopdb.kit.parameters import PageQuery
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.metafields import service
from shopdb.metafields.auth import MetafieldsRead, MetafieldsWrite
from shopdb.metafields.schemas import (
    CapabilitiesOut,
    CapabilityOut,
    DefinitionCreate,
    DefinitionOut,
    DefinitionUpdate,
    MetafieldOut,
    MetafieldUpdate,
    MetafieldWrite,
    OwnerResource,
    ValidationOut,
)
from shopdb.models import MetafieldDefinition

router = domain_router("/metafields", tags=["metafields"])
definitions_router = domain_router("/metafield-definitions", tags=["metafields"])


def definition_out(definition: MetafieldDefinition) -> DefinitionOut:
    return DefinitionOut(
        id=definition.id,
        owner_type=definition.owner_type,
        namespace=definition.namespace,
        key=definition.key,
        name=definition.name,
        type=definition.type,
        description=definition.description,
        validations=[
            ValidationOut(name=v["name"], value=v["value"]) for v in definition.validations or []
        ],
        capabilities=CapabilitiesOut(
            smart_collection_condition=CapabilityOut(
                enabled=service.condition_enabled(definition),
                eligible=service.condition_eligible(definition.owner_type, definition.type),
            )
        ),
        created_at=definition.created_at,
        updated_at=definition.updated_at,
    )


@router.get("", response_model=Page[MetafieldOut])
async def list_metafields(
    session: SessionDep,
    subject: MetafieldsRead,
    page: PageQuery,
    owner_resource: Annotated[OwnerResource | None, Query(alias="ownerResource")] = None,
    owner_id: Annotated[int | None, Query(alias="ownerId", ge=1)] = None,
    namespace: Annotated[str | None, Query(max_length=255)] = None,
    key: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[MetafieldOut]:
    """By id."""
    found = await service.list_metafields(
        session,
        subject,
        owner_resource=owner_resource,
        owner_id=owner_id,
        namespace=namespace,
        key=key,
        request=page,
    )
    return Page[MetafieldOut](
        items=[MetafieldOut.model_validate(m) for m in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@router.post("", status_code=201, response_model=MetafieldOut)
async def write_metafield(
    session: SessionDep, subject: MetafieldsWrite, data: MetafieldWrite, response: Response
) -> MetafieldOut:
    """Create, or update the one with the same owner, namespace and key (200 then)."""
    metafield, created = await service.upsert_metafield(session, subject, data)
    response.status_code = 201 if created else 200
    return MetafieldOut.model_validate(metafield)


@router.get("/{metafield_id}", response_model=MetafieldOut)
async def get_metafield(
    session: SessionDep, subject: MetafieldsRead, metafield_id: int
) -> MetafieldOut:
    return MetafieldOut.model_validate(await service.get_metafield(session, subject, metafield_id))


@router.put("/{metafield_id}", response_model=MetafieldOut)
async def update_metafield(
    session: SessionDep, subject: MetafieldsWrite, metafield_id: int, data: MetafieldUpdate
) -> MetafieldOut:
    metafield = await service.update_metafield(session, subject, metafield_id, data)
    return MetafieldOut.model_validate(metafield)


@router.delete("/{metafield_id}", status_code=204, response_class=Response)
async def delete_metafield(
    session: SessionDep, subject: MetafieldsWrite, metafield_id: int
) -> Response:
    await service.delete_metafield(session, subject, metafield_id)
    return Response(status_code=204)


@definitions_router.get("", response_model=Page[DefinitionOut])
async def list_definitions(
    session: SessionDep,
    _: MetafieldsRead,
    page: PageQuery,
    owner_type: Annotated[OwnerResource | None, Query(alias="ownerType")] = None,
    namespace: Annotated[str | None, Query(max_length=255)] = None,
) -> Page[DefinitionOut]:
    """By id."""
    found = await service.list_definitions(
        session, owner_type=owner_type, namespace=namespace, request=page
    )
    return Page[DefinitionOut](
        items=[definition_out(d) for d in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@definitions_router.post("", status_code=201, response_model=DefinitionOut)
async def create_definition(
    session: SessionDep, subject: MetafieldsWrite, data: DefinitionCreate
) -> DefinitionOut:
    """Validations are `[{name, value}]`: min, max, regex, choices, max_precision, ...;
    `capabilities.smartCollectionCondition.enabled` lets smart collection rules use it."""
    return definition_out(await service.create_definition(session, subject, data))


@definitions_router.get("/{definition_id}", response_model=DefinitionOut)
async def get_definition(
    session: SessionDep, _: MetafieldsRead, definition_id: int
) -> DefinitionOut:
    return definition_out(await service.get_definition(session, definition_id))


@definitions_router.put("/{definition_id}", response_model=DefinitionOut)
async def update_definition(
    session: SessionDep, subject: MetafieldsWrite, definition_id: int, data: DefinitionUpdate
) -> DefinitionOut:
    definition = await service.update_definition(session, subject, definition_id, data)
    return definition_out(definition)


@definitions_router.delete("/{definition_id}", status_code=204, response_class=Response)
async def delete_definition(
    session: SessionDep, subject: MetafieldsWrite, definition_id: int
) -> Response:
    await service.delete_definition(session, subject, definition_id)
    return Response(status_code=204)

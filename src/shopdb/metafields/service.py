"""Metafields: one per (owner, namespace, key), values checked by type and by definition.

Every entry point takes the caller (`Subject`) and checks the owner's domain permission
(metafields.access) before it looks anything up, so a caller without customers:read learns
nothing about customers, not even whether one exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.metafields import access, types
from shopdb.metafields.errors import (
    DefinitionInUse,
    DefinitionNotFound,
    DefinitionTaken,
    MetafieldNotFound,
    MetafieldValueTaken,
    OwnerNotFound,
)
from shopdb.metafields.repository import MetafieldRepository
from shopdb.metafields.schemas import (
    CapabilitiesInput,
    DefinitionCreate,
    DefinitionUpdate,
    MetafieldUpdate,
    MetafieldWrite,
    Validation,
)
from shopdb.models import Metafield, MetafieldDefinition


def definition_rules(definition: MetafieldDefinition) -> list[tuple[str, str]]:
    return [(str(v["name"]), str(v["value"])) for v in (definition.validations or [])]


def _check_type(type_: str) -> None:
    if type_ not in types.TYPES:
        raise ValidationFailed.on("type", f"unknown metafield type {type_!r}")


# The owner resource whose read permission a reference to each resource needs.
_REFERENCE_READ_AS = {"images": "products"}
_REFERENCE_NOUN = {
    "products": "product",
    "variants": "variant of a live product",
    "collections": "smart collection",
    "customers": "customer",
    "images": "image of a live product",
}


async def _check_references(
    repository: MetafieldRepository, subject: Subject, type_: str, parsed: Any
) -> None:
    """Each reference must point to a live record the caller may read.

    The permission comes first, as for owners: without customers:read a customer_reference
    is a 403 whether or not the customer exists, so it cannot probe for customer ids.
    """
    found = types.references(type_, parsed)
    if not found:
        return
    wanted: dict[str, set[int]] = {}
    for _, reference in found:
        wanted.setdefault(reference.resource, set()).add(reference.id)
    for resource in wanted:
        access.require(subject, _REFERENCE_READ_AS.get(resource, resource), "read")
    live = {
        resource: await repository.live_ids(resource, sorted(ids))
        for resource, ids in wanted.items()
    }
    for index, reference in found:
        if reference.id not in live[reference.resource]:
            where = "" if index is None else f"item {index}: "
            raise ValidationFailed.on(
                "value",
                f"{where}{reference.gid} is not an existing {_REFERENCE_NOUN[reference.resource]}",
            )


async def _validated(
    repository: MetafieldRepository,
    subject: Subject,
    owner_resource: str,
    namespace: str,
    key: str,
    type_: str,
    value: str,
) -> None:
    _check_type(type_)
    try:
        parsed = types.parse_value(type_, value)
    except ValueError as exc:
        raise ValidationFailed.on("value", f"{exc} (type {type_})") from exc
    definition = await repository.definition(owner_resource, namespace, key)
    if definition is not None:
        if definition.type != type_:
            raise ValidationFailed.on(
                "type", f"the definition of {namespace}.{key} requires type {definition.type}"
            )
        try:
            types.check_validations(type_, value, parsed, definition_rules(definition))
        except ValueError as exc:
            raise ValidationFailed.on("value", str(exc)) from exc
    await _check_references(repository, subject, type_, parsed)


async def _check_id_value(
    repository: MetafieldRepository,
    current: Metafield | None,
    owner_id: int,
    type_: str,
    value: str,
    *,
    owner_resource: str,
    namespace: str,
    key: str,
) -> None:
    """Shopify's `id` type: no migration to it, and a value unique per owner type, namespace
    and key (locked until commit on PostgreSQL, so two writers cannot both take it)."""
    if type_ != "id":
        return
    if current is not None and current.type != "id":
        raise ValidationFailed.on(
            "type", f"a {current.type} metafield cannot be changed to type id; delete it first"
        )
    await repository.lock_id_value(owner_resource, namespace, key, value)
    holder = await repository.id_value_holder(owner_resource, namespace, key, value, owner_id)
    if holder is not None:
        raise MetafieldValueTaken(namespace, key)


def _body(metafield: Metafield) -> dict[str, Any]:
    return {
        "id": metafield.id,
        "ownerResource": metafield.owner_resource,
        "ownerId": metafield.owner_id,
        "namespace": metafield.namespace,
        "key": metafield.key,
        "type": metafield.type,
        "value": metafield.value,
    }


async def metafields_of(
    session: AsyncSession, owner_resource: str, owner_id: int
) -> list[Metafield]:
    return await MetafieldRepository(session).for_owner(owner_resource, owner_id)


async def namespace_of_owners(
    session: AsyncSession, owner_resource: str, owner_ids: Sequence[int], namespace: str
) -> dict[int, dict[str, str]]:
    """{owner id: {key: value}} of one namespace for many owners (an export's batch)."""
    found: dict[int, dict[str, str]] = {owner_id: {} for owner_id in owner_ids}
    for m in await MetafieldRepository(session).for_owners(owner_resource, owner_ids, namespace):
        found[m.owner_id][m.key] = m.value or ""
    return found


async def get_metafield(
    session: AsyncSession, subject: Subject, metafield_id: int, action: access.Action = "read"
) -> Metafield:
    """The metafield, if the caller may `action` its owner's data.

    A metafield whose owner the caller cannot even read is a 404, exactly like a missing one:
    answering 403 would tell which ids hold, say, customer metafields. One the caller can read
    but not change is a 403 naming the permission.
    """
    metafield = await MetafieldRepository(session).get(metafield_id)
    if metafield is None or not access.allowed(subject, metafield.owner_resource, "read"):
        raise MetafieldNotFound(metafield_id)
    access.require(subject, metafield.owner_resource, action)
    return metafield


async def list_metafields(
    session: AsyncSession,
    subject: Subject,
    *,
    owner_resource: str | None,
    owner_id: int | None,
    namespace: str | None,
    key: str | None,
    request: PageRequest,
) -> RowsPage[Metafield]:
    """Filtered by one owner resource (403 without its read permission), or else limited to
    the owner resources the caller may read."""
    if owner_resource is not None:
        access.require(subject, owner_resource, "read")
        owners = [owner_resource]
    else:
        owners = access.readable(subject)
    return await MetafieldRepository(session).list(
        owner_resources=owners,
        owner_id=owner_id,
        namespace=namespace,
        key=key,
        request=request,
    )


async def upsert_metafield(
    session: AsyncSession, subject: Subject, data: MetafieldWrite
) -> tuple[Metafield, bool]:
    """Create, or update the one at (owner, namespace, key). Returns (metafield, created)."""
    access.require(subject, data.owner_resource, "write")  # before the owner is looked up
    actor = subject.principal
    repository = MetafieldRepository(session)
    if not await repository.owner_exists(data.owner_resource, data.owner_id):
        raise OwnerNotFound(data.owner_resource, data.owner_id)
    await _validated(
        repository, subject, data.owner_resource, data.namespace, data.key, data.type, data.value
    )
    metafield = await repository.find(data.owner_resource, data.owner_id, data.namespace, data.key)
    await _check_id_value(
        repository,
        metafield,
        data.owner_id,
        data.type,
        data.value,
        owner_resource=data.owner_resource,
        namespace=data.namespace,
        key=data.key,
    )
    created = metafield is None
    if metafield is None:
        metafield = Metafield(
            owner_resource=data.owner_resource,
            owner_id=data.owner_id,
            namespace=data.namespace,
            key=data.key,
        )
        session.add(metafield)
    metafield.type = data.type
    metafield.value = data.value
    if "description" in data.model_fields_set or created:
        metafield.description = data.description
    await repository.flush()
    record_event(
        session,
        topic="metafields/create" if created else "metafields/update",
        subject_type="Metafield",
        subject_id=metafield.id,
        body=_body(metafield),
        actor=actor,
    )
    return metafield, created


async def update_metafield(
    session: AsyncSession, subject: Subject, metafield_id: int, data: MetafieldUpdate
) -> Metafield:
    metafield = await get_metafield(session, subject, metafield_id, "write")
    actor = subject.principal
    type_ = data.type or metafield.type
    repository = MetafieldRepository(session)
    await _validated(
        repository,
        subject,
        metafield.owner_resource,
        metafield.namespace,
        metafield.key,
        type_,
        data.value,
    )
    await _check_id_value(
        repository,
        metafield,
        metafield.owner_id,
        type_,
        data.value,
        owner_resource=metafield.owner_resource,
        namespace=metafield.namespace,
        key=metafield.key,
    )
    metafield.type = type_
    metafield.value = data.value
    if "description" in data.model_fields_set:
        metafield.description = data.description
    await repository.flush()
    record_event(
        session,
        topic="metafields/update",
        subject_type="Metafield",
        subject_id=metafield.id,
        body=_body(metafield),
        actor=actor,
    )
    return metafield


async def delete_metafield(session: AsyncSession, subject: Subject, metafield_id: int) -> None:
    metafield = await get_metafield(session, subject, metafield_id, "write")
    actor = subject.principal
    body = _body(metafield)
    await MetafieldRepository(session).delete(metafield)
    record_event(
        session,
        topic="metafields/delete",
        subject_type="Metafield",
        subject_id=metafield_id,
        body=body,
        actor=actor,
    )


# --- definitions ---------------------------------------------------------------------------


def _validations(type_: str, given: Sequence[Validation]) -> list[dict[str, str]]:
    pairs = [(v.name, v.value) for v in given]
    try:
        types.check_definition_validations(type_, pairs)
    except types.RuleError as exc:
        field = "validations" if exc.index is None else f"validations[{exc.index}].{exc.part}"
        raise ValidationFailed.on(field, str(exc)) from exc
    return [{"name": name, "value": value} for name, value in pairs]


SMART_COLLECTION_FIELD = "capabilities.smartCollectionCondition.enabled"


def condition_eligible(owner_type: str, type_: str) -> bool:
    """Whether a definition may be a smart collection condition (Shopify's `eligible`)."""
    return (
        owner_type in types.COLLECTION_CONDITION_OWNERS
        and type_ in types.COLLECTION_CONDITION_TYPES
    )


def condition_enabled(definition: MetafieldDefinition) -> bool:
    """Whether its smartCollectionCondition capability is on (absent on older rows: off)."""
    capabilities = definition.capabilities if isinstance(definition.capabilities, dict) else {}
    capability = capabilities.get("smartCollectionCondition")
    return isinstance(capability, dict) and capability.get("enabled") is True


def _capabilities(
    owner_type: str, type_: str, given: CapabilitiesInput | None, current: Any
) -> dict[str, Any]:
    stored: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
    if given is None or given.smart_collection_condition is None:
        return stored
    enabled = given.smart_collection_condition.enabled
    if enabled and not condition_eligible(owner_type, type_):
        raise ValidationFailed.on(
            SMART_COLLECTION_FIELD,
            "only definitions of products or variants of type "
            + ", ".join(sorted(types.COLLECTION_CONDITION_TYPES))
            + " can be smart collection conditions",
        )
    stored["smartCollectionCondition"] = {"enabled": enabled}
    return stored


def _definition_body(definition: MetafieldDefinition) -> dict[str, Any]:
    return {
        "id": definition.id,
        "ownerType": definition.owner_type,
        "namespace": definition.namespace,
        "key": definition.key,
        "type": definition.type,
        "validations": definition.validations,
        "capabilities": definition.capabilities,
    }


async def get_definition(session: AsyncSession, definition_id: int) -> MetafieldDefinition:
    """Any caller with metafields:read: a definition is a schema, not an owner's data."""
    definition = await MetafieldRepository(session).get_definition(definition_id)
    if definition is None:
        raise DefinitionNotFound(definition_id)
    return definition


async def condition_definitions(
    session: AsyncSession, ids: Sequence[int]
) -> list[MetafieldDefinition]:
    """The definitions smart collection rules name (for the collections domain)."""
    return await MetafieldRepository(session).definitions_by_ids(ids)


async def _definition_to_change(
    session: AsyncSession, subject: Subject, definition_id: int
) -> MetafieldDefinition:
    definition = await get_definition(session, definition_id)
    # It decides what may be written to this owner type's metafields: a change to that domain.
    access.require(subject, definition.owner_type, "write")
    return definition


async def list_definitions(
    session: AsyncSession,
    *,
    owner_type: str | None,
    namespace: str | None,
    request: PageRequest,
) -> RowsPage[MetafieldDefinition]:
    return await MetafieldRepository(session).list_definitions(
        owner_type=owner_type, namespace=namespace, request=request
    )


async def create_definition(
    session: AsyncSession, subject: Subject, data: DefinitionCreate
) -> MetafieldDefinition:
    access.require(subject, data.owner_type, "write")
    actor = subject.principal
    _check_type(data.type)
    validations = _validations(data.type, data.validations)
    repository = MetafieldRepository(session)
    if await repository.definition(data.owner_type, data.namespace, data.key) is not None:
        raise DefinitionTaken(data.owner_type, data.namespace, data.key)
    definition = MetafieldDefinition(
        owner_type=data.owner_type,
        namespace=data.namespace,
        key=data.key,
        name=data.name,
        type=data.type,
        description=data.description,
        validations=validations,
        access={},
        capabilities=_capabilities(data.owner_type, data.type, data.capabilities, {}),
    )
    await repository.add(definition)
    record_event(
        session,
        topic="metafield_definitions/create",
        subject_type="MetafieldDefinition",
        subject_id=definition.id,
        body=_definition_body(definition),
        actor=actor,
    )
    return definition


async def update_definition(
    session: AsyncSession, subject: Subject, definition_id: int, data: DefinitionUpdate
) -> MetafieldDefinition:
    """Name, description and validations may change; existing values are not re-checked."""
    definition = await _definition_to_change(session, subject, definition_id)
    actor = subject.principal
    if data.name is not None:
        definition.name = data.name
    if "description" in data.model_fields_set:
        definition.description = data.description
    if data.validations is not None:
        definition.validations = _validations(definition.type, data.validations)
    repository = MetafieldRepository(session)
    capabilities = _capabilities(
        definition.owner_type, definition.type, data.capabilities, definition.capabilities
    )
    turned_off = not capabilities.get("smartCollectionCondition", {}).get("enabled", False)
    if condition_enabled(definition) and turned_off:
        in_use = await repository.collections_using(definition.id)
        if in_use:
            raise DefinitionInUse(in_use, SMART_COLLECTION_FIELD)
    definition.capabilities = capabilities
    await repository.flush()
    record_event(
        session,
        topic="metafield_definitions/update",
        subject_type="MetafieldDefinition",
        subject_id=definition.id,
        body=_definition_body(definition),
        actor=actor,
    )
    return definition


async def delete_definition(session: AsyncSession, subject: Subject, definition_id: int) -> None:
    """The definition goes; its metafields stay, unvalidated from now on."""
    definition = await _definition_to_change(session, subject, definition_id)
    actor = subject.principal
    body = _definition_body(definition)
    repository = MetafieldRepository(session)
    in_use = await repository.collections_using(definition.id)
    if in_use:
        raise DefinitionInUse(in_use, "id")
    await repository.delete(definition)
    record_event(
        session,
        topic="metafield_definitions/delete",
        subject_type="MetafieldDefinition",
        subject_id=definition_id,
        body=body,
        actor=actor,
    )

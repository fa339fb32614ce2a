"""Metafield and metafield definition DTOs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, field_validator

from shopdb.kit.bounds import MAX_JSON_DEPTH, json_depth_exceeds
from shopdb.kit.schemas import CamelModel, InputModel

# Shopify names owners in the singular (`owner_resource=product`, ownerType PRODUCT); shopdb
# has always stored the plural. Both are accepted and the plural is what is stored and shown.
SINGULAR_OWNERS = {
    "product": "products",
    "variant": "variants",
    "collection": "collections",
    "customer": "customers",
    "order": "orders",
    "location": "locations",
}


def plural_owner(value: Any) -> Any:
    return SINGULAR_OWNERS.get(value, value) if isinstance(value, str) else value


OwnerResource = Annotated[
    Literal["products", "variants", "collections", "customers", "orders", "locations", "shop"],
    BeforeValidator(plural_owner),
]
# Shopify's limits (MetafieldsSetInput, MetafieldDefinitionInput): namespaces 3 to 255
# characters, keys 2 to 64, both alphanumeric, hyphen and underscore. Rows written before the
# namespace minimum was 3 stay as they are (a PUT by id does not resend the namespace).
Namespace = Annotated[
    str, StringConstraints(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_-]+$")
]
Key = Annotated[str, StringConstraints(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
TypeName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
MAX_VALUE_LENGTH = 512 * 1024
JsonValue = str | int | float | bool | list[Any] | dict[str, Any]


def as_text(value: Any) -> Any:
    """Shopify sends every value as a string; numbers, booleans and JSON are accepted too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, dict)):
        # json.dumps recurses per level: refuse a deep structure before it gets a chance to.
        if json_depth_exceeds(value):
            raise ValueError(f"must not nest deeper than {MAX_JSON_DEPTH} levels")
        return json.dumps(value)
    return value


class MetafieldWrite(InputModel):
    owner_resource: OwnerResource
    owner_id: int = Field(ge=1)
    namespace: Namespace
    key: Key
    type: TypeName
    value: Annotated[str, StringConstraints(max_length=MAX_VALUE_LENGTH)]
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None

    _text = field_validator("value", mode="before")(as_text)


class MetafieldUpdate(InputModel):
    # What MetafieldOut shows and a PUT cannot change (the owner, namespace and key name it).
    read_only = InputModel.read_only | {"owner_resource", "owner_id", "namespace", "key"}

    value: Annotated[str, StringConstraints(max_length=MAX_VALUE_LENGTH)]
    type: TypeName | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None

    _text = field_validator("value", mode="before")(as_text)


class MetafieldOut(CamelModel):
    id: int
    owner_resource: str
    owner_id: int
    namespace: str
    key: str
    type: str
    value: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime


class Validation(InputModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    value: Annotated[str, StringConstraints(max_length=10_000)]

    _text = field_validator("value", mode="before")(as_text)


class SmartCollectionCondition(InputModel):
    enabled: bool


class CapabilitiesInput(InputModel):
    """Shopify's MetafieldCapabilityCreateInput/UpdateInput, of which shopdb has the one that
    lets smart collection rules use the definition."""

    smart_collection_condition: SmartCollectionCondition | None = None


class DefinitionCreate(InputModel):
    owner_type: OwnerResource
    namespace: Namespace
    key: Key
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    type: TypeName
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    validations: list[Validation] = Field(default_factory=list, max_length=20)
    capabilities: CapabilitiesInput | None = None


class DefinitionUpdate(InputModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    validations: list[Validation] | None = Field(default=None, max_length=20)
    capabilities: CapabilitiesInput | None = None


class ValidationOut(CamelModel):
    name: str
    value: str


class CapabilityOut(CamelModel):
    enabled: bool
    eligible: bool


class CapabilitiesOut(CamelModel):
    smart_collection_condition: CapabilityOut


class DefinitionOut(CamelModel):
    id: int
    owner_type: str
    namespace: str
    key: str
    name: str
    type: str
    description: str | None
    validations: list[ValidationOut]
    capabilities: CapabilitiesOut
    created_at: datetime
    updated_at: datetime

"""Smart collection DTOs; rule columns and relations are Shopify's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints

from shopdb.kit.bounds import MAX_BIGINT
from shopdb.kit.schemas import CamelModel, InputModel

RuleColumn = Literal[
    "title",
    "type",
    "vendor",
    "tag",
    "variant_title",
    "variant_price",
    "variant_compare_at_price",
    "variant_weight",
    "variant_inventory",
    "is_price_reduced",
    "product_taxonomy_node_id",
    "product_metafield_definition",
    "variant_metafield_definition",
]
RuleRelation = Literal[
    "equals",
    "not_equals",
    "greater_than",
    "less_than",
    "starts_with",
    "ends_with",
    "contains",
    "not_contains",
    "is_set",
    "is_not_set",
]
SortOrder = Literal[
    "manual",
    "alpha-asc",
    "alpha-desc",
    "best-selling",
    "price-asc",
    "price-desc",
    "created",
    "created-desc",
]
Handle = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[a-z0-9-]+$")]
MAX_RULES = 60


DEFINITION_GID = "gid://shopify/MetafieldDefinition/"


def definition_id(value: Any) -> Any:
    """Shopify sends `conditionObjectId` as a GID; shopdb's own ids are numbers: both work."""
    if isinstance(value, str) and value.startswith(DEFINITION_GID):
        return value.removeprefix(DEFINITION_GID)
    return value


ConditionObjectId = Annotated[int, BeforeValidator(definition_id), Field(ge=1, le=MAX_BIGINT)]


class Rule(InputModel):
    column: RuleColumn
    relation: RuleRelation
    # Required (non-empty) except with is_set / is_not_set, which compare with nothing:
    # rules.check_rules says so naming the rule.
    condition: Annotated[str, StringConstraints(max_length=255)] = ""
    # The metafield definition of a product_/variant_metafield_definition rule.
    condition_object_id: ConditionObjectId | None = None


def rule_out(rule: dict[str, Any]) -> dict[str, Any]:
    """A stored rule on the wire: `conditionObjectId` only where a definition is named."""
    shown: dict[str, Any] = {k: rule[k] for k in ("column", "relation", "condition") if k in rule}
    if rule.get("condition_object_id") is not None:
        shown["conditionObjectId"] = rule["condition_object_id"]
    return shown


class CollectionCreate(InputModel):
    read_only = InputModel.read_only | {"published_at"}

    title: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    handle: Handle | None = None
    body_html: Annotated[str, StringConstraints(max_length=512 * 1024)] | None = None
    rules: list[Rule] = Field(min_length=1, max_length=MAX_RULES)
    disjunctive: bool = False
    sort_order: SortOrder = "manual"
    published: bool = True


class CollectionUpdate(InputModel):
    read_only = InputModel.read_only | {"published_at"}

    title: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    handle: Handle | None = None
    body_html: Annotated[str, StringConstraints(max_length=512 * 1024)] | None = None
    rules: list[Rule] | None = Field(default=None, min_length=1, max_length=MAX_RULES)
    disjunctive: bool | None = None
    sort_order: SortOrder | None = None
    published: bool | None = None


class ManualOrder(InputModel):
    product_ids: list[Annotated[int, Field(ge=1)]] = Field(max_length=5000)


class CollectionOut(CamelModel):
    id: int
    title: str
    handle: str
    body_html: str | None
    rules: list[dict[str, Any]]
    disjunctive: bool
    sort_order: str
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime

"""Collection rules: which column/relation pairs make sense, and their SQL.

Semantics (also what the tests' independent evaluator implements):
- text columns (title, type, vendor, variant_title) compare case-insensitively, a missing
  value counting as the empty string;
- `tag` only `equals` (case-insensitive) one of the product's tags;
- numeric columns (variant_price, variant_compare_at_price, variant_weight in kg,
  variant_inventory) take equals/not_equals/greater_than/less_than against a number, and a
  missing value (no compare-at price) matches nothing;
- `is_price_reduced` takes only is_set / is_not_set (Shopify's CollectionRuleColumn): is_set
  matches a product with a variant whose compare-at price is above its price, is_not_set one
  with a variant whose compare-at price is missing or not above its price; the condition is
  not used;
- `product_metafield_definition` / `variant_metafield_definition` name a metafield definition
  by `condition_object_id` (its smartCollectionCondition capability on) and compare the owner's
  metafield of that definition: boolean and single_line_text_field only `equals` (text
  case-insensitively), number_integer, number_decimal and rating (its value)
  equals/greater_than/less_than. Only metafields of the definition's type count, and a product
  or variant without one matches nothing;
- `product_taxonomy_node_id` (Shopify's category condition) takes only `equals`: a product
  whose `productCategory` is the condition, or a category below it (`Apparel & Accessories >
  Clothing` matches `Apparel & Accessories > Clothing > Shirts`), case-insensitively; a product
  without a category matches nothing;
- a variant column matches when any variant of the product matches;
- `disjunctive` ORs the rules, otherwise they are ANDed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, Numeric, and_, case, exists, false, func, literal, not_, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from shopdb.errors import ErrorDetail
from shopdb.kit.sql import contains_pattern
from shopdb.models import Metafield, Product, ProductTag, ProductVariant

TEXT_RELATIONS = frozenset(
    {"equals", "not_equals", "starts_with", "ends_with", "contains", "not_contains"}
)
NUMERIC_RELATIONS = frozenset({"equals", "not_equals", "greater_than", "less_than"})
SET_RELATIONS = frozenset({"is_set", "is_not_set"})
METAFIELD_COLUMNS = {
    "product_metafield_definition": "products",
    "variant_metafield_definition": "variants",
}
# Shopify's "Smart collection" capability table: the relations each definition type takes.
METAFIELD_RELATIONS: dict[str, frozenset[str]] = {
    "boolean": frozenset({"equals"}),
    "single_line_text_field": frozenset({"equals"}),
    "number_integer": frozenset({"equals", "greater_than", "less_than"}),
    "number_decimal": frozenset({"equals", "greater_than", "less_than"}),
    "rating": frozenset({"equals", "greater_than", "less_than"}),
}
ALLOWED: dict[str, frozenset[str]] = {
    "title": TEXT_RELATIONS,
    "type": TEXT_RELATIONS,
    "vendor": TEXT_RELATIONS,
    "variant_title": TEXT_RELATIONS,
    "tag": frozenset({"equals"}),
    "variant_price": NUMERIC_RELATIONS,
    "variant_compare_at_price": NUMERIC_RELATIONS,
    "variant_weight": NUMERIC_RELATIONS,
    "variant_inventory": NUMERIC_RELATIONS,
    "is_price_reduced": SET_RELATIONS,
    "product_taxonomy_node_id": frozenset({"equals"}),
    # Narrowed by the definition's type (METAFIELD_RELATIONS) once it is known.
    "product_metafield_definition": frozenset().union(*METAFIELD_RELATIONS.values()),
    "variant_metafield_definition": frozenset().union(*METAFIELD_RELATIONS.values()),
}
INTEGER_COLUMNS = frozenset({"variant_inventory"})
KG_PER_UNIT = {
    "kg": Decimal(1),
    "g": Decimal("0.001"),
    "lb": Decimal("0.45359237"),
    "oz": Decimal("0.028349523125"),
}
NUMBER_LIMIT = Decimal("1e12")
# number_integer and number_decimal metafields hold up to 9,007,199,254,740,991 and
# 9,999,999,999,999.999999999: a condition may reach that far.
METAFIELD_NUMBER_LIMIT = Decimal("1e16")
# number_decimal metafields keep 9 decimals; more would only let a condition like 1e-999999
# through, which PostgreSQL's NUMERIC cannot take as a parameter.
MAX_DECIMALS = 9


@dataclass(frozen=True)
class ConditionDefinition:
    """What a rule needs to know of the metafield definition it names."""

    id: int
    owner_type: str
    namespace: str
    key: str
    type: str
    enabled: bool


def _number(condition: str) -> Decimal | None:
    try:
        number = Decimal(condition.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _check_number(
    condition: str, *, integer: bool, limit: Decimal, where: str
) -> ErrorDetail | None:
    number = _number(condition)
    if number is None:
        return {"field": where, "message": "must be a number"}
    if integer and number != number.to_integral_value():
        return {"field": where, "message": "must be a whole number"}
    if abs(number) >= limit:
        return {"field": where, "message": "is out of range"}
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMALS:
        return {"field": where, "message": f"must have at most {MAX_DECIMALS} decimals"}
    return None


def _check_metafield_rule(
    rule: Mapping[str, Any],
    definition: ConditionDefinition | None,
    where: str,
) -> ErrorDetail | None:
    column, relation, condition = rule["column"], rule["relation"], rule["condition"]
    object_id = rule.get("condition_object_id")
    if object_id is None:
        return {
            "field": f"{where}.conditionObjectId",
            "message": f"is required with column {column!r}: the metafield definition's id",
        }
    if definition is None:
        return {
            "field": f"{where}.conditionObjectId",
            "message": f"no metafield definition with id {object_id}",
        }
    owner = METAFIELD_COLUMNS[column]
    if definition.owner_type != owner:
        return {
            "field": f"{where}.conditionObjectId",
            "message": f"definition {object_id} is for {definition.owner_type}; "
            f"column {column!r} needs a definition for {owner}",
        }
    if not definition.enabled:
        return {
            "field": f"{where}.conditionObjectId",
            "message": f"definition {object_id} is not a collection condition: set its "
            "capabilities.smartCollectionCondition.enabled to true first",
        }
    allowed = METAFIELD_RELATIONS[definition.type]
    if relation not in allowed:
        return {
            "field": f"{where}.relation",
            "message": f"{relation!r} cannot be used with a {definition.type} definition; "
            f"use one of {', '.join(sorted(allowed))}",
        }
    if definition.type == "boolean" and condition.strip().lower() not in ("true", "false"):
        return {"field": f"{where}.condition", "message": 'must be "true" or "false"'}
    if definition.type in ("number_integer", "number_decimal", "rating"):
        return _check_number(
            condition,
            integer=definition.type == "number_integer",
            limit=METAFIELD_NUMBER_LIMIT,
            where=f"{where}.condition",
        )
    return None


def check_rules(
    rules: Sequence[Mapping[str, Any]],
    definitions: Mapping[int, ConditionDefinition] | None = None,
    field: str = "rules",
) -> list[ErrorDetail]:
    """What is wrong with each rule, naming it. `definitions` holds the metafield definitions
    the rules name by `condition_object_id` (missing ones are reported)."""
    known = definitions or {}
    errors: list[ErrorDetail] = []
    for i, rule in enumerate(rules):
        where = f"{field}[{i}]"
        column, relation, condition = rule["column"], rule["relation"], rule["condition"]
        allowed = ALLOWED[column]
        if relation not in allowed:
            errors.append(
                {
                    "field": f"{where}.relation",
                    "message": f"{relation!r} cannot be used with column {column!r}; "
                    f"use one of {', '.join(sorted(allowed))}",
                }
            )
            continue
        if relation not in SET_RELATIONS and not condition:
            errors.append({"field": f"{where}.condition", "message": "is required"})
            continue
        if column not in METAFIELD_COLUMNS and rule.get("condition_object_id") is not None:
            errors.append(
                {
                    "field": f"{where}.conditionObjectId",
                    "message": "applies only to columns "
                    + " and ".join(repr(c) for c in METAFIELD_COLUMNS),
                }
            )
            continue
        problem: ErrorDetail | None = None
        if column in METAFIELD_COLUMNS:
            definition = known.get(rule.get("condition_object_id") or 0)
            problem = _check_metafield_rule(rule, definition, where)
        elif column in NUMERIC_COLUMNS_SQL:
            problem = _check_number(
                condition,
                integer=column in INTEGER_COLUMNS,
                limit=NUMBER_LIMIT,
                where=f"{where}.condition",
            )
        if problem is not None:
            errors.append(problem)
    return errors


def _text(expression: Any, relation: str, condition: str) -> ColumnElement[bool]:
    value = func.lower(func.coalesce(expression, literal("")))
    needle = condition.lower()
    if relation == "equals":
        return value == needle
    if relation == "not_equals":
        return value != needle
    escaped = contains_pattern(condition)[1:-1]
    if relation == "starts_with":
        return value.like(f"{escaped}%", escape="\\")
    if relation == "ends_with":
        return value.like(f"%{escaped}", escape="\\")
    contains = value.like(f"%{escaped}%", escape="\\")
    return contains if relation == "contains" else not_(contains)


# The separator of a category path in Shopify's product CSV and taxonomy names.
CATEGORY_SEPARATOR = " > "


def _in_category(condition: str) -> ColumnElement[bool]:
    """The category itself or any category below it in the path (case-insensitive)."""
    category = func.lower(Product.product_category)
    below = contains_pattern(condition.strip() + CATEGORY_SEPARATOR)[1:]  # no leading wildcard
    return or_(category == condition.strip().lower(), category.like(below, escape="\\"))


def _weight_kg() -> ColumnElement[Any]:
    return case(
        *(
            (ProductVariant.weight_unit == unit, ProductVariant.weight * factor)
            for unit, factor in KG_PER_UNIT.items()
        ),
        else_=ProductVariant.weight,
    )


NUMERIC_COLUMNS_SQL: dict[str, Any] = {
    "variant_price": lambda: ProductVariant.price,
    "variant_compare_at_price": lambda: ProductVariant.compare_at_price,
    "variant_weight": _weight_kg,
    "variant_inventory": lambda: ProductVariant.inventory_quantity,
}


def _numeric(expression: Any, relation: str, condition: str) -> ColumnElement[bool]:
    number = Decimal(condition.strip())
    # A NULL never satisfies any relation, not even not_equals.
    present = expression.is_not(None)
    if relation == "equals":
        return and_(present, expression == number)
    if relation == "not_equals":
        return and_(present, expression != number)
    if relation == "greater_than":
        return and_(present, expression > number)
    return and_(present, expression < number)


def _any_variant(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(ProductVariant.product_id == Product.id, condition)


def _price_reduced(relation: str) -> ColumnElement[bool]:
    reduced = and_(
        ProductVariant.compare_at_price.is_not(None),
        ProductVariant.compare_at_price > ProductVariant.price,
    )
    return _any_variant(reduced if relation == "is_set" else not_(reduced))


# --- metafield values as numbers -------------------------------------------------------------
# A metafield's value is text. The rules only read metafields of the definition's type, whose
# values the metafields service parsed on every write; PostgreSQL still only casts text that
# looks like a number, so a stray value can never turn a page of products into an error.

_DECIMAL_TEXT = r"^\s*[-+]?[0-9]+(\.[0-9]+)?\s*$"


class decimal_value(FunctionElement[Decimal]):
    """The text as a number (on PostgreSQL NULL when it does not look like one)."""

    type = Numeric()
    inherit_cache = True


class rating_value(FunctionElement[Decimal]):
    """The `value` of a rating metafield's JSON text, as a number."""

    type = Numeric()
    inherit_cache = True


def _guarded_pg(text: str) -> str:
    return f"CASE WHEN {text} ~ '{_DECIMAL_TEXT}' THEN CAST({text} AS NUMERIC) END"


@compiles(decimal_value, "postgresql")
def _decimal_value_pg(element: decimal_value, compiler: SQLCompiler, **kw: Any) -> str:
    return _guarded_pg(compiler.process(element.clauses, **kw))


@compiles(decimal_value)
def _decimal_value_default(element: decimal_value, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS NUMERIC)"


@compiles(rating_value, "postgresql")
def _rating_value_pg(element: rating_value, compiler: SQLCompiler, **kw: Any) -> str:
    return _guarded_pg(f"(CAST({compiler.process(element.clauses, **kw)} AS JSONB) ->> 'value')")


@compiles(rating_value)
def _rating_value_default(element: rating_value, compiler: SQLCompiler, **kw: Any) -> str:
    text = compiler.process(element.clauses, **kw)
    return f"CASE WHEN json_valid({text}) THEN CAST(json_extract({text}, '$.value') AS NUMERIC) END"


def _metafield_value(definition: ConditionDefinition, value: Any, rule: Mapping[str, Any]) -> Any:
    relation, condition = rule["relation"], rule["condition"]
    if definition.type == "single_line_text_field":
        return func.lower(value) == condition.lower()
    if definition.type == "boolean":
        return value == condition.strip().lower()
    number = rating_value(value) if definition.type == "rating" else decimal_value(value)
    return _numeric(number, relation, condition)


def _metafield_rule(
    rule: Mapping[str, Any], definition: ConditionDefinition | None
) -> ColumnElement[bool]:
    if definition is None or definition.owner_type != METAFIELD_COLUMNS[rule["column"]]:
        # The definition is gone (its deletion is refused while rules name it, but a rule
        # written concurrently could slip through): such a rule matches nothing.
        return false()
    metafield = aliased(Metafield)
    owner = Product.id if definition.owner_type == "products" else ProductVariant.id
    match = and_(
        metafield.owner_resource == definition.owner_type,
        metafield.owner_id == owner,
        metafield.namespace == definition.namespace,
        metafield.key == definition.key,
        metafield.type == definition.type,
        _metafield_value(definition, metafield.value, rule),
    )
    if definition.owner_type == "products":
        return exists().where(match)
    return exists().where(ProductVariant.product_id == Product.id, match)


def rule_condition(
    rule: Mapping[str, Any], definitions: Mapping[int, ConditionDefinition] | None = None
) -> ColumnElement[bool]:
    column, relation, condition = rule["column"], rule["relation"], rule["condition"]
    if column == "title":
        return _text(Product.title, relation, condition)
    if column == "type":
        return _text(Product.product_type, relation, condition)
    if column == "vendor":
        return _text(Product.vendor, relation, condition)
    if column == "tag":
        return exists().where(
            ProductTag.product_id == Product.id, func.lower(ProductTag.tag) == condition.lower()
        )
    if column == "variant_title":
        return _any_variant(_text(ProductVariant.title, relation, condition))
    if column == "is_price_reduced":
        return _price_reduced(relation)
    if column == "product_taxonomy_node_id":
        return _in_category(condition)
    if column in METAFIELD_COLUMNS:
        object_id = rule.get("condition_object_id")
        return _metafield_rule(rule, (definitions or {}).get(object_id or 0))
    return _any_variant(_numeric(NUMERIC_COLUMNS_SQL[column](), relation, condition))


def rules_condition(
    rules: Sequence[Mapping[str, Any]],
    disjunctive: bool,
    definitions: Mapping[int, ConditionDefinition] | None = None,
) -> ColumnElement[bool]:
    conditions = [rule_condition(rule, definitions) for rule in rules]
    if not conditions:
        return false()
    return or_(*conditions) if disjunctive else and_(*conditions)


def definition_ids(rules: Sequence[Mapping[str, Any]]) -> list[int]:
    """The metafield definitions the rules name, each once."""
    return sorted(
        {
            int(rule["condition_object_id"])
            for rule in rules
            if rule.get("column") in METAFIELD_COLUMNS and rule.get("condition_object_id")
        }
    )

"""Collection rules: which column/relation pairs make sense, and their SQL.

Semantics (also what the tests' independent evaluator implements):
- text columns (title, type, vendor, variant_title) compare case-insensitively, a missing
  value counting as the empty string;
- `tag` only `equals` (case-insensitive) one of the product's tags;
- numeric columns (variant_price, variant_compare_at_price, variant_weight in kg,
  variant_inventory) take equals/not_equals/greater_than/less_than against a number, and a
  missing value (no compare-at price) matches nothing;
- a variant column matches when any variant of the product matches;
- `disjunctive` ORs the rules, otherwise they are ANDed.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, false, func, literal, not_, or_

from shopdb.errors import ErrorDetail
from shopdb.kit.sql import contains_pattern
from shopdb.models import Product, ProductTag, ProductVariant

TEXT_RELATIONS = frozenset(
    {"equals", "not_equals", "starts_with", "ends_with", "contains", "not_contains"}
)
NUMERIC_RELATIONS = frozenset({"equals", "not_equals", "greater_than", "less_than"})
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
}
INTEGER_COLUMNS = frozenset({"variant_inventory"})
KG_PER_UNIT = {
    "kg": Decimal(1),
    "g": Decimal("0.001"),
    "lb": Decimal("0.45359237"),
    "oz": Decimal("0.028349523125"),
}


def check_rules(rules: Sequence[dict[str, str]], field: str = "rules") -> list[ErrorDetail]:
    errors: list[ErrorDetail] = []
    for i, rule in enumerate(rules):
        column, relation, condition = rule["column"], rule["relation"], rule["condition"]
        allowed = ALLOWED[column]
        if relation not in allowed:
            errors.append(
                {
                    "field": f"{field}[{i}].relation",
                    "message": f"{relation!r} cannot be used with column {column!r}; "
                    f"use one of {', '.join(sorted(allowed))}",
                }
            )
            continue
        if column in NUMERIC_COLUMNS_SQL:
            try:
                number = Decimal(condition.strip())
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite():
                errors.append({"field": f"{field}[{i}].condition", "message": "must be a number"})
            elif column in INTEGER_COLUMNS and number != number.to_integral_value():
                errors.append(
                    {"field": f"{field}[{i}].condition", "message": "must be a whole number"}
                )
            elif abs(number) >= Decimal("1e12"):
                errors.append({"field": f"{field}[{i}].condition", "message": "is out of range"})
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


def rule_condition(rule: dict[str, str]) -> ColumnElement[bool]:
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
    return _any_variant(_numeric(NUMERIC_COLUMNS_SQL[column](), relation, condition))


def rules_condition(rules: Sequence[dict[str, str]], disjunctive: bool) -> ColumnElement[bool]:
    conditions = [rule_condition(rule) for rule in rules]
    if not conditions:
        return false()
    return or_(*conditions) if disjunctive else and_(*conditions)

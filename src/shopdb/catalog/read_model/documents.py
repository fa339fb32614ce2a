"""Product details as JSON built by PostgreSQL in the query that reads them.

Reading a product through the ORM or row by row costs more Python than the rest of the request
(a detail is ~30 rows across five tables), so on PostgreSQL one statement returns each product
as a finished JSON document. It is the same JSON value that `ProductDetail` serialises to (keys
from the same models in the same order, Decimals as strings, UTC timestamps in Pydantic's `Z`
form); tests compare the two on every product shape. SQLite keeps the Python builder (reader.py).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Numeric,
    Text,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from shopdb.catalog.read_model.schemas import ImageOut, OptionOut, ProductDetail, VariantOut
from shopdb.kit.types import UTCDateTime
from shopdb.models import (
    InventoryItem,
    OptionValue,
    Product,
    ProductImage,
    ProductOption,
    ProductVariant,
)
from shopdb.models.catalog import ProductImageVariant

_EMPTY_ARRAY: ColumnElement[Any] = literal_column("'[]'::json")


def supports_documents(dialect_name: str) -> bool:
    return dialect_name == "postgresql"


def compact(document: str) -> bytes:
    """PostgreSQL writes `{"a" : 1}`; clients get what Pydantic would send, `{"a":1}`."""
    return orjson.dumps(orjson.loads(document))


def _constant(text: str) -> ColumnElement[str]:
    """A string written into the SQL, not bound: the document has ~80 such constants (its keys,
    formats), and binding them made every execution encode and send them again."""
    return literal_column("'" + text.replace("'", "''") + "'", Text)


def _json_value(column: Any) -> ColumnElement[Any]:
    """A column as Pydantic serialises the Python value it maps to."""
    if isinstance(column.type, UTCDateTime):
        utc = func.timezone(_constant("UTC"), column)
        stamped = func.to_char(utc, _constant('YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
        # Pydantic drops zero microseconds.
        return func.replace(stamped, _constant(".000000Z"), _constant("Z"))
    if isinstance(column.type, Numeric):
        return cast(column, Text)  # Decimal("24.00") is sent as "24.00"
    return column  # type: ignore[no-any-return]


def _object(
    model: type[BaseModel], columns: dict[str, Any], nested: dict[str, Any] | None = None
) -> ColumnElement[Any]:
    """json_build_object over every field of `model` (but metafields), keyed by its alias.

    `columns` are table columns, converted as Pydantic would; `nested` are JSON already.
    """
    nested = nested or {}
    expected = {name for name in model.model_fields if name != "metafields"}
    if set(columns) | set(nested) != expected:
        raise RuntimeError(f"{model.__name__} document is out of step with its model")
    arguments: list[Any] = []
    for name, info in model.model_fields.items():
        if name in columns:
            arguments += [_constant(info.alias or name), _json_value(columns[name])]
        elif name in nested:
            arguments += [_constant(info.alias or name), nested[name]]
    return func.json_build_object(*arguments)


def _columns(table: Any, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(table, name) for name in names}


def _array(document: Any, *order_by: Any) -> Any:
    return func.coalesce(func.json_agg(aggregate_order_by(document, *order_by)), _EMPTY_ARRAY)


def _variants() -> Any:
    names = [n for n in VariantOut.model_fields if n != "inventory_item_id"]
    document = _object(
        VariantOut, {**_columns(ProductVariant, names), "inventory_item_id": InventoryItem.id}
    )
    return (
        select(_array(document, ProductVariant.position, ProductVariant.id))
        .select_from(ProductVariant)
        .outerjoin(InventoryItem, InventoryItem.product_variant_id == ProductVariant.id)
        .where(ProductVariant.product_id == Product.id)
        .scalar_subquery()
    )


def _options() -> Any:
    values = (
        select(_array(OptionValue.value, OptionValue.position, OptionValue.id))
        .where(OptionValue.product_option_id == ProductOption.id)
        .scalar_subquery()
    )
    document = _object(
        OptionOut, _columns(ProductOption, ["id", "name", "position"]), {"values": values}
    )
    return (
        select(_array(document, ProductOption.position, ProductOption.id))
        .where(ProductOption.product_id == Product.id)
        .scalar_subquery()
    )


def _images() -> Any:
    links = ProductImageVariant.image_id == ProductImage.id
    variant_ids = (
        select(_array(ProductImageVariant.variant_id, ProductImageVariant.variant_id))
        .where(links)
        .scalar_subquery()
    )
    first_variant = select(func.min(ProductImageVariant.variant_id)).where(links).scalar_subquery()
    names = [n for n in ImageOut.model_fields if n not in ("variant_id", "variant_ids")]
    document = _object(
        ImageOut,
        {**_columns(ProductImage, names), "variant_id": first_variant},
        {"variant_ids": variant_ids},
    )
    return (
        select(_array(document, ProductImage.position, ProductImage.id))
        .where(ProductImage.product_id == Product.id)
        .scalar_subquery()
    )


# Built once: the expression is ~300 nodes, and rebuilding it (with its cache key) on every
# request cost more than running the query.
@functools.cache
def product_document() -> ColumnElement[str]:
    """The ProductDetail JSON (as text) of the `products` row in the enclosing query."""
    nested = {"variants": _variants(), "options": _options(), "images": _images()}
    scalars = [n for n in ProductDetail.model_fields if n not in nested and n != "metafields"]
    return cast(_object(ProductDetail, _columns(Product, scalars), nested), Text)

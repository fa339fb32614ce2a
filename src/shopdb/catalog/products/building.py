"""The pieces a product is built from: its options, its variants and their first stock.

Shared by product writes (service.py) and the replacement of a product's variants and
options (structure.py), so that neither imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.errors import (
    CommittedVariant,
    SkuTaken,
    VariantHasCommittedStock,
)
from shopdb.catalog.products.repository import ProductRepository, StoredOption, StoredVariant
from shopdb.catalog.products.schemas import OptionInput, VariantFields
from shopdb.catalog.rules import (
    OptionSpec,
    clean_optional,
    option_values,
    raise_if,
    variant_title,
)
from shopdb.errors import ErrorDetail
from shopdb.inventory import service as inventory
from shopdb.models import OptionValue, Product, ProductOption, ProductVariant

Combo = tuple[str | None, str | None, str | None]

# Variant attributes a request may set, with the value a new variant gets when it is omitted.
VARIANT_DEFAULTS: dict[str, object] = {
    "compare_at_price": None,
    "sku": None,
    "barcode": None,
    "weight": None,
    "weight_unit": "kg",
    "inventory_policy": "deny",
    "taxable": True,
    "requires_shipping": True,
}


async def check_skus_free(
    repository: ProductRepository,
    skus: Sequence[str | None],
    *,
    field: str | None = "variants",
    except_variant_ids: Sequence[int] = (),
) -> None:
    """SKUs are unique across the catalog. `field` names the list (`variants[i].sku`); None
    for a request about one variant, whose field is plain `sku`."""
    wanted = [sku for sku in skus if sku]
    used = await repository.existing_skus(wanted, except_variant_ids=except_variant_ids)
    errors: list[ErrorDetail] = [
        {
            "field": f"{field}[{i}].sku" if field else "sku",
            "message": f"SKU {sku!r} is already used by another variant",
        }
        for i, sku in enumerate(skus)
        if sku and sku in used
    ]
    if errors:
        raise SkuTaken(errors)


def specs_of(options: Sequence[OptionInput]) -> list[OptionSpec]:
    return [OptionSpec(o.name, list(o.values)) for o in options]


def stored_specs(product: Product) -> list[OptionSpec]:
    return [OptionSpec(o.name, [v.value for v in o.values]) for o in product.options]


def apply_options(product: Product, specs: Sequence[OptionSpec]) -> None:
    """Replace the option rows by position, keeping rows (and value rows) that still fit."""
    existing = list(product.options)
    replaced: list[ProductOption] = []
    for i, spec in enumerate(specs):
        option = existing[i] if i < len(existing) else ProductOption()
        option.name = spec.name
        option.position = i + 1
        current = {v.value: v for v in option.values} if option.id is not None else {}
        values = []
        for j, text in enumerate(spec.values):
            value = current.get(text) or OptionValue(value=text)
            value.position = j + 1
            values.append(value)
        option.values = values
        replaced.append(option)
    product.options = replaced


def options_unchanged(stored: Sequence[StoredOption], specs: Sequence[OptionSpec]) -> bool:
    """Whether apply_options would leave the stored options (in their loaded order) and their
    values as they are."""
    if len(stored) != len(specs):
        return False
    for i, (option, spec) in enumerate(zip(stored, specs, strict=True)):
        if option.name != spec.name or option.position != i + 1:
            return False
        wanted = {text: j + 1 for j, text in enumerate(spec.values)}
        if len(wanted) != len(spec.values) or len(option.values) != len(spec.values):
            return False
        if dict(option.values) != wanted:
            return False
    return True


def _requested(data: VariantFields, name: str, default: object) -> object:
    """The value a request's `name` gives a variant (blank codes are none, a null flag or unit
    is its default)."""
    value = getattr(data, name)
    if name in ("sku", "barcode"):
        value = clean_optional(value)
    if value is None and name in (
        "weight_unit",
        "inventory_policy",
        "taxable",
        "requires_shipping",
    ):
        value = default
    return value


def apply_variant_fields(
    variant: ProductVariant, data: VariantFields, combo: Combo, *, new: bool
) -> None:
    given = data.model_fields_set
    for name, default in VARIANT_DEFAULTS.items():
        if name in given:
            setattr(variant, name, _requested(data, name, default))
        elif new:
            setattr(variant, name, default)
    if "price" in given and data.price is not None:
        variant.price = data.price
    variant.option1, variant.option2, variant.option3 = combo
    variant.title = variant_title(combo)
    item = variant.inventory_item
    if item is not None:
        item.sku = variant.sku
        if "cost" in given:
            item.cost = data.cost


def variant_unchanged(
    variant: StoredVariant, data: VariantFields, combo: Combo, position: int
) -> bool:
    """Whether apply_variant_fields (of a variant kept) and its new position would leave the
    stored variant and its inventory item as they are (what the ORM would call unmodified:
    values compared with ==)."""
    given = data.model_fields_set
    for name, default in VARIANT_DEFAULTS.items():
        if name in given and _requested(data, name, default) != getattr(variant, name):
            return False
    if "price" in given and data.price is not None and data.price != variant.price:
        return False
    if combo != option_values(variant) or variant_title(combo) != variant.title:
        return False
    if variant.position != position:
        return False
    if variant.inventory_item_id is not None and (
        variant.item_sku != variant.sku or ("cost" in given and data.cost != variant.item_cost)
    ):
        return False
    return True


def new_variant(data: VariantFields, combo: Combo, position: int) -> ProductVariant:
    variant = ProductVariant(position=position, inventory_quantity=0)
    variant.inventory_item = inventory.new_inventory_item(None, cost=data.cost)
    apply_variant_fields(variant, data, combo, new=True)
    return variant


async def stock_variants(
    session: AsyncSession,
    variants: Sequence[tuple[ProductVariant, int | None]],
    *,
    field: str = "variants",
    indexes: Sequence[int] | None = None,
) -> None:
    """Connect new variants at the default location with their initial quantity (flushed)."""
    location_id = await inventory.default_location_id(session)
    positions = list(indexes) if indexes is not None else list(range(len(variants)))
    if location_id is None:
        errors = [
            {
                "field": f"{field}[{positions[n]}].inventoryQuantity",
                "message": "no active location to stock it at",
            }
            for n, (_, quantity) in enumerate(variants)
            if quantity
        ]
        raise_if(errors)
        return
    for variant, quantity in variants:
        variant.inventory_quantity = quantity or 0
    await session.flush()
    await inventory.stock_new_items(
        session,
        location_id,
        [(v.inventory_item.id, q or 0) for v, q in variants if v.inventory_item is not None],
    )


async def refuse_removal_of_committed_stock(
    session: AsyncSession, removed: Sequence[tuple[ProductVariant, str]]
) -> None:
    """Removing a variant deletes its levels: refused (before any write) while one holds
    committed units, which orders are waiting for. `removed` pairs each variant with the field
    that names it. The levels stay locked until commit, so no order commits units to them
    between this check and the delete.
    """
    by_item = {v.inventory_item.id: (v, f) for v, f in removed if v.inventory_item is not None}
    committed: dict[int, int] = {}
    for level in await inventory.levels_of_items(session, sorted(by_item), lock=True):
        if level.committed:
            item_id = level.inventory_item_id
            committed[item_id] = committed.get(item_id, 0) + level.committed
    if committed:
        raise VariantHasCommittedStock(
            [
                CommittedVariant(variant.id, variant.sku, committed[item_id], field)
                for item_id, (variant, field) in by_item.items()
                if item_id in committed
            ]
        )


def combos_of(variants: Sequence[ProductVariant]) -> list[Combo]:
    return [option_values(v) for v in variants]

"""Replacing a product's options and variants together, keeping what still exists.

A variant sent with its `id`, or with the option combination of an existing variant, updates
that variant in place: its id, inventory item, stock levels and adjustment history survive.
Existing variants matched by nothing are deleted; the rest are created and stocked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.products.building import (
    Combo,
    apply_options,
    apply_variant_fields,
    check_skus_free,
    new_variant,
    options_unchanged,
    refuse_removal_of_committed_stock,
    specs_of,
    stock_variants,
    stored_specs,
    variant_unchanged,
)
from shopdb.catalog.products.repository import ProductRepository, StoredStructure
from shopdb.catalog.products.schemas import OptionInput, VariantReplace
from shopdb.catalog.rules import (
    OptionSpec,
    VariantOptions,
    check_options,
    check_variant_count,
    check_variants,
    clean_optional,
    effective_options,
    fill_default_option,
    grow_options,
    option_values,
    ordered_positions,
    raise_if,
)
from shopdb.errors import ErrorDetail, ShopdbError, ValidationFailed
from shopdb.models import Product, ProductVariant


class KeptVariant(VariantOptions, Protocol):
    """What planning reads of a stored variant: an ORM row, or a StoredVariant read in Core."""

    @property
    def id(self) -> int: ...
    @property
    def sku(self) -> str | None: ...


V = TypeVar("V", bound=KeptVariant)


@dataclass(frozen=True)
class VariantPlan(Generic[V]):
    """What a PUT's variants become, decided before anything is written: the options (grown
    by the values the variants use), each variant's option values, SKU and position, and the
    stored variant it keeps (None: a new one)."""

    specs: list[OptionSpec]
    combos: list[Combo]
    skus: list[str | None]
    matched: list[V | None]
    positions: list[int]


def _match(
    stored: Sequence[V], variants: Sequence[VariantReplace], combos: Sequence[Combo]
) -> list[V | None]:
    by_id = {v.id: v for v in stored}
    by_combo = {option_values(v): v for v in stored}
    claimed: set[int] = set()
    matched: list[V | None] = []
    errors: list[ErrorDetail] = []
    # Explicit ids claim first, so an id-less variant cannot take a variant named elsewhere.
    for i, data in enumerate(variants):
        if data.id is None:
            continue
        target = by_id.get(data.id)
        if target is None:
            errors.append(
                {"field": f"variants[{i}].id", "message": "is not a variant of this product"}
            )
        elif target.id in claimed:
            errors.append({"field": f"variants[{i}].id", "message": "is listed twice"})
        else:
            claimed.add(target.id)
    raise_if(errors)
    for i, data in enumerate(variants):
        if data.id is not None:
            matched.append(by_id[data.id])
            continue
        candidate = by_combo.get(combos[i])
        if candidate is not None and candidate.id not in claimed:
            claimed.add(candidate.id)
            matched.append(candidate)
        else:
            matched.append(None)
    return matched


def plan_variants(
    stored: Sequence[V], specs: list[OptionSpec], variants: Sequence[VariantReplace]
) -> VariantPlan[V]:
    """Check a PUT's variants against `specs` (the options sent, else the stored ones) and
    match them to the `stored` variants; raises what the request gets wrong. Writes nothing."""
    check_variant_count(len(variants))
    raise_if(check_options(specs))
    specs = effective_options(specs)
    combos = [fill_default_option(specs, v) for v in variants]
    # Values the variants bring are added to their options (Shopify's REST rule).
    specs = grow_options(specs, combos)
    skus = [clean_optional(v.sku) for v in variants]
    # A variant keeps its stored SKU when the request leaves `sku` out.
    matched = _match(stored, variants, combos)
    for i, (data, target) in enumerate(zip(variants, matched, strict=True)):
        if "sku" not in data.model_fields_set and target is not None:
            skus[i] = target.sku
    raise_if(check_variants(specs, combos, skus))
    for i, (data, target) in enumerate(zip(variants, matched, strict=True)):
        if target is None and data.id is None and "price" not in data.model_fields_set:
            raise ValidationFailed.on(f"variants[{i}].price", "is required for a new variant")
    # 1..n in the order sent; a variant sent with `position` k is placed k-th.
    positions = ordered_positions([data.position for data in variants])
    return VariantPlan(specs, combos, skus, matched, positions)


def kept_as_stored(
    stored: StoredStructure,
    options: Sequence[OptionInput] | None,
    variants: Sequence[VariantReplace],
) -> list[int] | None:
    """When replace_structure would leave the stored variants, their inventory items and the
    options exactly as they are (the usual PUT: a product as GET showed it, its description
    edited), the variants' ids in the order sent; decided from the rows alone. None for
    anything it would write or refuse, which the full replacement then does (with its errors,
    in their order)."""
    specs = specs_of(options) if options is not None else stored_option_specs(stored)
    try:
        plan = plan_variants(stored.variants, specs, variants)
    except ShopdbError:
        return None
    if len(plan.matched) != len(stored.variants):
        return None  # some stored variant is removed (or one is new)
    kept: list[int] = []
    for data, target, combo, sku, position in zip(
        variants, plan.matched, plan.combos, plan.skus, plan.positions, strict=True
    ):
        if target is None or target.sku != sku:
            return None  # a new variant, or a SKU handed over
        if (
            "inventory_quantity" in data.model_fields_set
            and data.inventory_quantity is not None
            and data.inventory_quantity != target.inventory_quantity
        ):
            return None  # refused by replace_structure, as a stock change
        if not variant_unchanged(target, data, combo, position):
            return None
        kept.append(target.id)
    return kept if options_unchanged(stored.options, plan.specs) else None


def stored_option_specs(stored: StoredStructure) -> list[OptionSpec]:
    return [OptionSpec(o.name, [value for value, _ in o.values]) for o in stored.options]


async def replace_structure(
    session: AsyncSession,
    product: Product,
    options: Sequence[OptionInput] | None,
    variants: Sequence[VariantReplace] | None,
) -> bool:
    """Replace options and/or variants; True when it had to write (delete, create, hand a SKU
    over), otherwise the changes are only in the session, for the caller to check and flush."""
    if variants is None:
        specs = specs_of(options) if options is not None else stored_specs(product)
        raise_if(check_options(specs))
        specs = effective_options(specs)
        # New options must still describe every existing variant: options sent alone that
        # drop a value a variant uses are refused, not grown back.
        combos = [option_values(v) for v in product.variants]
        raise_if(check_variants(specs, combos, [v.sku for v in product.variants]))
        apply_options(product, specs)
        return False

    plan = plan_variants(
        product.variants,
        specs_of(options) if options is not None else stored_specs(product),
        variants,
    )
    specs, combos, skus, matched, positions = (
        plan.specs,
        plan.combos,
        plan.skus,
        plan.matched,
        plan.positions,
    )
    repository = ProductRepository(session)
    own_skus = {v.sku for v in product.variants if v.sku}
    if not {sku for sku in skus if sku} <= own_skus:
        # SKUs are unique: one this product's variants hold is held by no other variant.
        await check_skus_free(repository, skus, except_variant_ids=[v.id for v in product.variants])

    kept_ids = {t.id for t in matched if t is not None}
    # Named by their index in the product as stored (as a GET shows it): they are not in the
    # request.
    removed = [
        (v, f"variants[{i}]") for i, v in enumerate(product.variants) if v.id not in kept_ids
    ]
    await refuse_removal_of_committed_stock(session, removed)
    handed_over = [
        target
        for target, sku in zip(matched, skus, strict=True)
        if target is not None and target.sku != sku and target.inventory_item is not None
    ]
    if removed or handed_over:
        # Deletes and SKU hand-overs go out before the new values, or a SKU moving from a
        # deleted variant to a new one would collide with itself inside one flush.
        product.variants = [v for v in product.variants if v.id in kept_ids]
        for variant, _ in removed:
            if variant.inventory_item is not None:
                await session.delete(variant.inventory_item)
        for moved in handed_over:
            moved.sku = None
            if moved.inventory_item is not None:
                moved.inventory_item.sku = None
        await repository.flush()

    apply_options(product, specs)
    result: list[ProductVariant] = []
    created: list[tuple[ProductVariant, int | None]] = []
    created_at: list[int] = []
    for i, (data, target) in enumerate(zip(variants, matched, strict=True)):
        position = positions[i]
        if target is None:
            variant = new_variant(data, combos[i], position)
            created.append((variant, data.inventory_quantity))
            created_at.append(i)
        else:
            # Sent back unchanged (a GET-modify-PUT) it is ignored; a different value would
            # be a stock change, which has its own endpoints.
            if (
                data.inventory_quantity is not None
                and "inventory_quantity" in data.model_fields_set
                and data.inventory_quantity != target.inventory_quantity
            ):
                raise ValidationFailed.on(
                    f"variants[{i}].inventoryQuantity",
                    "only for new variants; change stock with /inventory-levels/adjust or /set",
                )
            variant = target
            apply_variant_fields(variant, data, combos[i], new=False)
            variant.position = position
        result.append(variant)
    product.variants = result
    if created:
        await stock_variants(session, created, indexes=created_at)
    return bool(removed or handed_over or created)

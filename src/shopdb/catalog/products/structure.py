"""Replacing a product's options and variants together, keeping what still exists.

A variant sent with its `id`, or with the option combination of an existing variant, updates
that variant in place: its id, inventory item, stock levels and adjustment history survive.
Existing variants matched by nothing are deleted; the rest are created and stocked.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.products.building import (
    Combo,
    apply_options,
    apply_variant_fields,
    check_skus_free,
    new_variant,
    refuse_removal_of_committed_stock,
    specs_of,
    stock_variants,
    stored_specs,
)
from shopdb.catalog.products.repository import ProductRepository
from shopdb.catalog.products.schemas import OptionInput, VariantReplace
from shopdb.catalog.rules import (
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
from shopdb.errors import ErrorDetail, ValidationFailed
from shopdb.models import Product, ProductVariant


def _match(
    product: Product, variants: Sequence[VariantReplace], combos: Sequence[Combo]
) -> list[ProductVariant | None]:
    by_id = {v.id: v for v in product.variants}
    by_combo = {option_values(v): v for v in product.variants}
    claimed: set[int] = set()
    matched: list[ProductVariant | None] = []
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


async def replace_structure(
    session: AsyncSession,
    product: Product,
    options: Sequence[OptionInput] | None,
    variants: Sequence[VariantReplace] | None,
) -> bool:
    """Replace options and/or variants; True when it had to write (delete, create, hand a SKU
    over), otherwise the changes are only in the session, for the caller to check and flush."""
    if variants is not None:
        check_variant_count(len(variants))
    specs = specs_of(options) if options is not None else stored_specs(product)
    raise_if(check_options(specs))
    specs = effective_options(specs)
    if variants is None:
        # New options must still describe every existing variant: options sent alone that
        # drop a value a variant uses are refused, not grown back.
        combos = [option_values(v) for v in product.variants]
        raise_if(check_variants(specs, combos, [v.sku for v in product.variants]))
        apply_options(product, specs)
        return False

    combos = [fill_default_option(specs, v) for v in variants]
    # Values the variants bring are added to their options (Shopify's REST rule).
    specs = grow_options(specs, combos)
    skus = [clean_optional(v.sku) for v in variants]
    # A variant keeps its stored SKU when the request leaves `sku` out.
    matched = _match(product, variants, combos)
    for i, (data, target) in enumerate(zip(variants, matched, strict=True)):
        if "sku" not in data.model_fields_set and target is not None:
            skus[i] = target.sku
    raise_if(check_variants(specs, combos, skus))
    for i, (data, target) in enumerate(zip(variants, matched, strict=True)):
        if target is None and data.id is None and "price" not in data.model_fields_set:
            raise ValidationFailed.on(f"variants[{i}].price", "is required for a new variant")
    repository = ProductRepository(session)
    await check_skus_free(repository, skus, except_variant_ids=[v.id for v in product.variants])

    # 1..n in the order sent; a variant sent with `position` k is placed k-th.
    positions = ordered_positions([data.position for data in variants])
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
        for target in handed_over:
            target.sku = None
            if target.inventory_item is not None:
                target.inventory_item.sku = None
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

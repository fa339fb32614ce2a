"""Variants on their own: add one to a product, change one, delete one.

Each of these locks the product's row first (ProductRepository.lock), so two requests on one
product take turns: the 2,048-variant limit, the option values and the positions are checked
and written against a product no one else is changing. Positions stay 1..n: the variants after
an inserted, moved or deleted one shift in one set-based UPDATE (VariantRepository).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.errors import LastVariant
from shopdb.catalog.products.building import (
    apply_options,
    apply_variant_fields,
    check_skus_free,
    new_variant,
    refuse_removal_of_committed_stock,
    stock_variants,
    stored_specs,
)
from shopdb.catalog.products.repository import ProductRepository
from shopdb.catalog.products.service import get_product
from shopdb.catalog.rules import (
    check_variant_count,
    check_variants,
    clean_optional,
    effective_options,
    fill_default_option,
    grow_options,
    option_values,
    raise_if,
)
from shopdb.catalog.variants.repository import VariantRepository
from shopdb.catalog.variants.schemas import VariantCreate, VariantUpdate
from shopdb.errors import NotFound, ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.etags import check_if_match
from shopdb.kit.types import utcnow
from shopdb.models import Product, ProductVariant


def _body(variant: ProductVariant) -> dict[str, object]:
    return {
        "id": variant.id,
        "productId": variant.product_id,
        "title": variant.title,
        "sku": variant.sku,
        "price": str(variant.price),
    }


async def get_variant(session: AsyncSession, variant_id: int) -> ProductVariant:
    variant = await VariantRepository(session).get(variant_id)
    if variant is None:
        raise NotFound.resource("Variant", variant_id)
    return variant


async def _locked_product(session: AsyncSession, product_id: int) -> Product:
    """The product, its row locked until commit (see the module's docstring)."""
    await ProductRepository(session).lock(product_id)
    return await get_product(session, product_id)  # 404 when it is not there (or deleted)


async def _with_product(session: AsyncSession, variant_id: int) -> tuple[ProductVariant, Product]:
    """The variant as a member of its loaded and locked product (siblings and options)."""
    product_id = await VariantRepository(session).product_id_of(variant_id)
    if product_id is None:
        raise NotFound.resource("Variant", variant_id)
    product = await _locked_product(session, product_id)
    variant = next((v for v in product.variants if v.id == variant_id), None)
    if variant is None:  # deleted by the request we waited for
        raise NotFound.resource("Variant", variant_id)
    return variant, product


async def create_variant(
    session: AsyncSession, product_id: int, data: VariantCreate, *, actor: str | None
) -> ProductVariant:
    """Add a variant at the end, or at `position` (the ones from there shift down).

    Option values the product's options lack are added to them, as Shopify's REST API does.
    """
    product = await _locked_product(session, product_id)
    siblings = list(product.variants)
    check_variant_count(len(siblings), listed=False)
    specs = effective_options(stored_specs(product))
    combo = fill_default_option(specs, data)
    sku = clean_optional(data.sku)
    combos = [option_values(v) for v in siblings] + [combo]
    grown = grow_options(specs, combos)
    errors = check_variants(grown, combos, [v.sku for v in siblings] + [sku])
    # Report against the one variant being created, not the stored ones.
    raise_if(
        [
            {
                "field": e["field"].replace(f"variants[{len(siblings)}]", "variant"),
                "message": e["message"],
            }
            for e in errors
        ]
    )
    await check_skus_free(ProductRepository(session), [sku], field=None)
    now = utcnow()
    count = len(siblings)
    position = min(data.position or count + 1, count + 1)
    positions = VariantRepository(session)
    if position <= count:
        await positions.make_room(product.id, position, now)
    if grown != specs:
        apply_options(product, grown)
    variant = new_variant(data, combo, position)
    product.variants.append(variant)
    await stock_variants(session, [(variant, data.inventory_quantity)], field="variant")
    product.updated_at = now
    await session.flush()
    # Closes gaps older data may have; writes nothing when positions are already 1..n.
    await positions.renumber(product.id, now)
    record_event(
        session,
        topic="variants/create",
        subject_type="ProductVariant",
        subject_id=variant.id,
        body=_body(variant),
        actor=actor,
    )
    return await get_variant(session, variant.id)


async def update_variant(
    session: AsyncSession,
    variant_id: int,
    data: VariantUpdate,
    *,
    if_match: str | None,
    actor: str | None,
) -> ProductVariant:
    """Change fields; a new option value is added to its option; `position` moves the variant
    (clamped to 1..n) and the ones in between shift by one."""
    variant, product = await _with_product(session, variant_id)
    check_if_match(if_match, variant.version)
    given = data.model_fields_set
    if "price" in given and data.price is None:
        raise ValidationFailed.on("price", "cannot be null")
    siblings = [v for v in product.variants if v.id != variant.id]
    specs = effective_options(stored_specs(product))
    stored = option_values(variant)
    combo = (
        data.option1 if "option1" in given else stored[0],
        data.option2 if "option2" in given else stored[1],
        data.option3 if "option3" in given else stored[2],
    )
    sku = clean_optional(data.sku) if "sku" in given else variant.sku
    combos = [option_values(v) for v in siblings] + [combo]
    grown = grow_options(specs, combos)
    errors = check_variants(grown, combos, [v.sku for v in siblings] + [sku])
    raise_if(
        [
            {
                "field": e["field"].split(".")[-1] if "." in e["field"] else "options",
                "message": e["message"],
            }
            for e in errors
            if e["field"].startswith(f"variants[{len(siblings)}]")
        ]
    )
    await check_skus_free(
        ProductRepository(session), [sku], field=None, except_variant_ids=[variant.id]
    )
    start = variant.position
    end = start if data.position is None else min(data.position, len(product.variants))
    with session.no_autoflush:
        apply_variant_fields(variant, data, combo, new=False)
        if grown != specs:
            apply_options(product, grown)
        item = variant.inventory_item
        if (
            end == start
            and grown == specs
            and not session.is_modified(variant)
            and (item is None or not session.is_modified(item))
        ):
            # Sent back as stored: nothing to write, the ETags stay.
            return variant
    now = utcnow()
    if session.is_modified(variant) or (item is not None and session.is_modified(item)):
        variant.updated_at = now
    # (A move alone is written by the set-based UPDATE below, version and all.)
    product.updated_at = now
    await session.flush()
    if end != start:
        positions = VariantRepository(session)
        await positions.move(product.id, variant.id, start, end, now)
        await positions.renumber(product.id, now)
    record_event(
        session,
        topic="variants/update",
        subject_type="ProductVariant",
        subject_id=variant.id,
        body=_body(variant),
        actor=actor,
    )
    return await get_variant(session, variant.id)


async def delete_variant(
    session: AsyncSession, variant_id: int, *, if_match: str | None, actor: str | None
) -> None:
    """Delete one variant with its inventory item and levels; the ones after it move up.
    The last one cannot go, nor one whose levels hold committed units."""
    variant, product = await _with_product(session, variant_id)
    check_if_match(if_match, variant.version)
    if len(product.variants) <= 1:
        raise LastVariant()
    await refuse_removal_of_committed_stock(session, [(variant, "id")])
    body = _body(variant)
    if variant.inventory_item is not None:
        await session.delete(variant.inventory_item)
    product.variants.remove(variant)
    now = utcnow()
    product.updated_at = now
    await session.flush()
    await VariantRepository(session).renumber(product.id, now)
    record_event(
        session,
        topic="variants/delete",
        subject_type="ProductVariant",
        subject_id=variant_id,
        body=body,
        actor=actor,
    )

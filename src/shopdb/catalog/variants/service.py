"""Variants on their own: add one to a product, change one, delete one."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.errors import LastVariant
from shopdb.catalog.products.building import (
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
    check_variants,
    clean_optional,
    effective_options,
    fill_default_option,
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


async def _with_product(session: AsyncSession, variant_id: int) -> tuple[ProductVariant, Product]:
    """The variant as a member of its loaded product (siblings and options included)."""
    found = await get_variant(session, variant_id)
    product = await get_product(session, found.product_id)
    variant = next(v for v in product.variants if v.id == variant_id)
    return variant, product


async def create_variant(
    session: AsyncSession, product_id: int, data: VariantCreate, *, actor: str | None
) -> ProductVariant:
    product = await get_product(session, product_id)
    siblings = list(product.variants)
    specs = effective_options(stored_specs(product), len(siblings) + 1)
    combo = fill_default_option(specs, data)
    sku = clean_optional(data.sku)
    combos = [option_values(v) for v in siblings] + [combo]
    skus = [v.sku for v in siblings] + [sku]
    errors = check_variants(specs, combos, skus)
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
    position = data.position or max((v.position for v in siblings), default=0) + 1
    variant = new_variant(data, combo, position)
    product.variants.append(variant)
    await stock_variants(session, [(variant, data.inventory_quantity)], field="variant")
    product.updated_at = utcnow()
    await session.flush()
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
    variant, product = await _with_product(session, variant_id)
    check_if_match(if_match, variant.version)
    given = data.model_fields_set
    if "price" in given and data.price is None:
        raise ValidationFailed.on("price", "cannot be null")
    siblings = [v for v in product.variants if v.id != variant.id]
    specs = effective_options(stored_specs(product), len(siblings) + 1)
    stored = option_values(variant)
    combo = (
        data.option1 if "option1" in given else stored[0],
        data.option2 if "option2" in given else stored[1],
        data.option3 if "option3" in given else stored[2],
    )
    sku = clean_optional(data.sku) if "sku" in given else variant.sku
    errors = check_variants(
        specs,
        [option_values(v) for v in siblings] + [combo],
        [v.sku for v in siblings] + [sku],
    )
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
    with session.no_autoflush:
        apply_variant_fields(variant, data, combo, new=False)
        if data.position is not None:
            variant.position = data.position
        item = variant.inventory_item
        if not session.is_modified(variant) and (item is None or not session.is_modified(item)):
            # Sent back as stored: nothing to write, the ETags stay.
            return variant
    variant.updated_at = utcnow()
    product.updated_at = utcnow()
    await session.flush()
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
    """Delete one variant with its inventory item and levels; the last one cannot go, nor one
    whose levels hold committed units."""
    variant, product = await _with_product(session, variant_id)
    check_if_match(if_match, variant.version)
    if len(product.variants) <= 1:
        raise LastVariant()
    await refuse_removal_of_committed_stock(session, [(variant, "id")])
    body = _body(variant)
    if variant.inventory_item is not None:
        await session.delete(variant.inventory_item)
    product.variants.remove(variant)
    product.updated_at = utcnow()
    await session.flush()
    record_event(
        session,
        topic="variants/delete",
        subject_type="ProductVariant",
        subject_id=variant_id,
        body=body,
        actor=actor,
    )

"""Products: create, replace, soft delete. Rules from the seed's CreateProductDto and Shopify.

Variants and options are replaced as a consistent set: a variant in a PUT keeps its id (and so
its inventory item, levels and history) when it is named by `id` or has the same option
combination as an existing variant; variants left out are deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.errors import HandleTaken, product_not_found
from shopdb.catalog.products.building import (
    apply_options,
    check_skus_free,
    new_variant,
    specs_of,
    stock_variants,
)
from shopdb.catalog.products.repository import ProductRepository
from shopdb.catalog.products.schemas import ProductCreate, ProductUpdate
from shopdb.catalog.products.structure import replace_structure
from shopdb.catalog.rules import (
    check_options,
    check_variants,
    clean_optional,
    effective_options,
    fill_default_option,
    normalise_tags,
    raise_if,
    slugify,
    tags_string,
)
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.etags import check_if_match
from shopdb.kit.types import utcnow
from shopdb.models import Product, ProductTag


async def get_product(session: AsyncSession, product_id: int) -> Product:
    product = await ProductRepository(session).get_detail(product_id)
    if product is None:
        raise product_not_found(product_id)
    return product


async def resolve_handle(
    repository: ProductRepository, given: str | None, title: str, *, except_id: int | None = None
) -> str:
    if given:
        if await repository.handle_taken(given, except_id=except_id):
            raise HandleTaken(given)
        return given
    base = slugify(title)
    # Two products created at once with one title would both pick the same free handle; one
    # would then fail on the unique index. Waiting for each other makes the second see the first.
    await repository.lock_handle_base(base)
    taken = await repository.handles_like(base)
    if base not in taken:
        return base
    suffix = 1
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"


def _event_body(product: Product) -> dict[str, object]:
    return {
        "id": product.id,
        "title": product.title,
        "handle": product.handle,
        "status": product.status,
        "variantIds": [v.id for v in product.variants],
    }


async def create_product(
    session: AsyncSession,
    data: ProductCreate,
    *,
    actor: str | None,
    published_at: datetime | None = None,
) -> Product:
    specs = specs_of(data.options)
    raise_if(check_options(specs))
    specs = effective_options(specs, len(data.variants))
    combos = [fill_default_option(specs, v) for v in data.variants]
    skus = [clean_optional(v.sku) for v in data.variants]
    raise_if(check_variants(specs, combos, skus))
    tags = normalise_tags(data.tags)
    repository = ProductRepository(session)
    handle = await resolve_handle(repository, data.handle, data.title)
    await check_skus_free(repository, skus)

    now = utcnow()
    product = Product(
        title=data.title,
        handle=handle,
        body_html=data.body_html,
        vendor=data.vendor,
        product_type=data.product_type,
        status=data.status,
        tags=tags_string(tags),
        published_at=published_at or (now if data.status == "active" else None),
    )
    product.tag_rows = [ProductTag(tag=tag) for tag in tags]
    product.images = []
    apply_options(product, specs)
    product.variants = [
        new_variant(v, combos[i], v.position or i + 1) for i, v in enumerate(data.variants)
    ]
    repository.add(product)
    await stock_variants(
        session,
        [
            (variant, data.variants[i].inventory_quantity)
            for i, variant in enumerate(product.variants)
        ],
    )
    await repository.flush()
    record_event(
        session,
        topic="products/create",
        subject_type="Product",
        subject_id=product.id,
        body=_event_body(product),
        actor=actor,
    )
    return await get_product(session, product.id)


def _not_null(data: ProductUpdate, *names: str) -> None:
    for name in names:
        if name in data.model_fields_set and getattr(data, name) is None:
            raise ValidationFailed.on(
                name if name != "product_type" else "productType", "cannot be null"
            )


def has_changes(session: AsyncSession, product: Product) -> bool:
    """Whether the session holds a real change of the product or of anything below it.

    `is_modified` compares assigned values with the loaded ones, so a request that sends back
    what is stored (a GET-modify-PUT, a re-imported export) changes nothing.
    """
    rows: list[object] = [product, *product.options, *product.tag_rows]
    for option in product.options:
        rows.extend(option.values)
    for variant in product.variants:
        rows.append(variant)
        if variant.inventory_item is not None:
            rows.append(variant.inventory_item)
    return any(session.is_modified(row) for row in rows)


def apply_published(product: Product, published: bool) -> None:
    """Shopify's Published flag: published_at set (kept if already set) or cleared."""
    if not published:
        product.published_at = None
    elif product.published_at is None:
        product.published_at = utcnow()


async def update_product(
    session: AsyncSession,
    product_id: int,
    data: ProductUpdate,
    *,
    if_match: str | None,
    actor: str | None,
    published: bool | None = None,
) -> Product:
    """Apply a PUT; one that changes nothing writes nothing (same version, no event).

    `published` is the CSV's Published flag (the API has no such field).
    """
    _not_null(data, "title", "handle", "status", "variants", "options")
    product = await get_product(session, product_id)
    check_if_match(if_match, product.version)
    repository = ProductRepository(session)
    given = data.model_fields_set
    structure_written = False
    # Nothing reaches the database before the change check below, unless the structure
    # replacement had to write (which is a change in itself).
    with session.no_autoflush:
        if "handle" in given and data.handle != product.handle:
            product.handle = await resolve_handle(
                repository, data.handle, product.title, except_id=product.id
            )
        was_active = product.status == "active"
        for name in ("title", "body_html", "vendor", "product_type", "status"):
            if name in given:
                setattr(product, name, getattr(data, name))
        # Becoming active publishes (as Shopify does); re-sending "active" changes nothing.
        if data.status == "active" and not was_active and product.published_at is None:
            product.published_at = utcnow()
        if published is not None:
            apply_published(product, published)
        if "tags" in given:
            tags = normalise_tags(data.tags)
            product.tags = tags_string(tags)
            current = {row.tag: row for row in product.tag_rows}
            product.tag_rows = [current.get(tag) or ProductTag(tag=tag) for tag in tags]
        if data.variants is not None or data.options is not None:
            structure_written = await replace_structure(
                session, product, data.options, data.variants
            )
        if not structure_written and not has_changes(session, product):
            return product
    # Write the product row even when only rows below it changed, so its version (the ETag)
    # moves with any change.
    product.updated_at = utcnow()
    await repository.flush()
    record_event(
        session,
        topic="products/update",
        subject_type="Product",
        subject_id=product.id,
        body=_event_body(product),
        actor=actor,
    )
    return await get_product(session, product.id)


async def delete_product(
    session: AsyncSession, product_id: int, *, if_match: str | None, actor: str | None
) -> None:
    product = await get_product(session, product_id)
    check_if_match(if_match, product.version)
    product.deleted_at = utcnow()
    await ProductRepository(session).flush()
    record_event(
        session,
        topic="products/delete",
        subject_type="Product",
        subject_id=product.id,
        body={"id": product.id, "handle": product.handle},
        actor=actor,
    )


async def set_published(session: AsyncSession, product: Product, published: bool) -> None:
    """Shopify's Published flag on a product just created (updates take `published=`)."""
    apply_published(product, published)
    await session.flush()

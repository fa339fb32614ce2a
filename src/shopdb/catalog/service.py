"""Products: create, replace, soft delete. Rules from the seed's CreateProductDto and Shopify.

Variants and options are replaced as a consistent set: a variant in a PUT keeps its id (and so
its inventory item, levels and history) when it is named by `id` or has the same option
combination as an existing variant; variants left out are deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.errors import (
    CommittedVariant,
    HandleTaken,
    SkuTaken,
    VariantHasCommittedStock,
)
from shopdb.catalog.repository import ProductRepository
from shopdb.catalog.rules import (
    OptionSpec,
    check_options,
    check_variants,
    clean_optional,
    effective_options,
    fill_default_option,
    normalise_tags,
    option_values,
    raise_if,
    slugify,
    tags_string,
    variant_title,
)
from shopdb.catalog.schemas import (
    OptionInput,
    ProductCreate,
    ProductDetail,
    ProductUpdate,
    VariantFields,
)
from shopdb.errors import ErrorDetail, NotFound, ValidationFailed
from shopdb.events.service import record_event
from shopdb.inventory import service as inventory
from shopdb.kit.etags import check_if_match
from shopdb.kit.types import utcnow
from shopdb.models import OptionValue, Product, ProductOption, ProductTag, ProductVariant

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


def product_not_found(product_id: int) -> NotFound:
    return NotFound.resource("Product", product_id)


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


def apply_variant_fields(
    variant: ProductVariant, data: VariantFields, combo: Combo, *, new: bool
) -> None:
    given = data.model_fields_set
    for name, default in VARIANT_DEFAULTS.items():
        if name in given:
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
            setattr(variant, name, value)
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
            from shopdb.catalog.structure import replace_structure

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


def combos_of(variants: Sequence[ProductVariant]) -> list[Combo]:
    return [option_values(v) for v in variants]


async def products_in_order(
    session: AsyncSession, product_ids: Sequence[int]
) -> list[ProductDetail]:
    """ProductDetails for the ids, in the order given (missing ids are skipped)."""
    return await ProductRepository(session).details_in_order(product_ids)

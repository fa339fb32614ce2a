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
from shopdb.catalog.products.publication import apply_published, requested_publication
from shopdb.catalog.products.repository import ProductRepository, StoredStructure
from shopdb.catalog.products.schemas import ProductCreate, ProductUpdate
from shopdb.catalog.products.structure import kept_as_stored, replace_structure
from shopdb.catalog.rules import (
    RESERVED_ENDING,
    check_options,
    check_variant_count,
    check_variants,
    clean_optional,
    deleted_name,
    effective_options,
    fill_default_option,
    grow_options,
    is_deleted_name,
    normalise_tags,
    ordered_positions,
    raise_if,
    slugify,
    tags_string,
)
from shopdb.errors import ShopdbError, ValidationFailed
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
        if is_deleted_name(given):
            raise ValidationFailed.on("handle", RESERVED_ENDING)
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


def _event_body(product: Product, variant_ids: list[int]) -> dict[str, object]:
    return {
        "id": product.id,
        "title": product.title,
        "handle": product.handle,
        "status": product.status,
        "variantIds": variant_ids,
    }


async def create_product(
    session: AsyncSession,
    data: ProductCreate,
    *,
    actor: str | None,
    published_at: datetime | None = None,
) -> Product:
    """Create a product with its options, variants and their first stock.

    Option values the variants use and the options lack are added to them (Shopify's REST
    rule). Published unless `published: false` or `publishedAt: null` (REST's default),
    whatever the status: a draft that is published shows once it is active.
    """
    check_variant_count(len(data.variants))
    specs = specs_of(data.options)
    raise_if(check_options(specs))
    specs = effective_options(specs)
    combos = [fill_default_option(specs, v) for v in data.variants]
    specs = grow_options(specs, combos)
    skus = [clean_optional(v.sku) for v in data.variants]
    raise_if(check_variants(specs, combos, skus))
    publication = requested_publication(data.published, data.published_at, data.model_fields_set)
    tags = normalise_tags(data.tags)
    repository = ProductRepository(session)
    handle = await resolve_handle(repository, data.handle, data.title)
    await check_skus_free(repository, skus)

    product = Product(
        title=data.title,
        handle=handle,
        body_html=data.body_html,
        vendor=data.vendor,
        product_type=data.product_type,
        status=data.status,
        product_category=data.product_category,
        gift_card=bool(data.gift_card),
        seo_title=data.seo_title,
        seo_description=data.seo_description,
        tags=tags_string(tags),
        published_at=published_at,
    )
    apply_published(product, publication if publication is not None else (True, None))
    product.tag_rows = [ProductTag(tag=tag) for tag in tags]
    product.images = []
    apply_options(product, specs)
    positions = ordered_positions([v.position for v in data.variants])
    product.variants = [
        new_variant(v, combos[i], positions[i]) for i, v in enumerate(data.variants)
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
        body=_event_body(product, [v.id for v in product.variants]),
        actor=actor,
    )
    return await get_product(session, product.id)


# The product's own fields a PUT replaces when sent (handle, tags and the structure have rules).
PRODUCT_FIELDS = (
    "title",
    "body_html",
    "vendor",
    "product_type",
    "status",
    "product_category",
    "gift_card",
    "seo_title",
    "seo_description",
)


def _not_null(data: ProductUpdate, *names: str) -> None:
    for name in names:
        if name in data.model_fields_set and getattr(data, name) is None:
            raise ValidationFailed.on(
                ProductUpdate.model_fields[name].alias or name, "cannot be null"
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


async def update_product(
    session: AsyncSession,
    product_id: int,
    data: ProductUpdate,
    *,
    if_match: str | None,
    actor: str | None,
    published: bool | None = None,
) -> Product:
    """Apply a PUT (see `replace_product`); the product with its details (variants, options,
    images, tags) loaded, as `get_product` gives it."""
    product, detailed = await _replace(
        session, product_id, data, if_match=if_match, actor=actor, published=published
    )
    return product if detailed else await get_product(session, product.id)


async def replace_product(
    session: AsyncSession,
    product_id: int,
    data: ProductUpdate,
    *,
    if_match: str | None,
    actor: str | None,
    published: bool | None = None,
) -> Product:
    """Apply a PUT; one that changes nothing writes nothing (same version, no event). The
    product's row, written (its version is the new ETag); its details may not be loaded.

    `published` is the CSV's Published flag; the API's `published`/`publishedAt` fields
    win over it. Status and publication are separate: becoming active publishes nothing.
    """
    product, _ = await _replace(
        session, product_id, data, if_match=if_match, actor=actor, published=published
    )
    return product


async def _replace(
    session: AsyncSession,
    product_id: int,
    data: ProductUpdate,
    *,
    if_match: str | None,
    actor: str | None,
    published: bool | None,
) -> tuple[Product, bool]:
    """(the product, whether its details are loaded and current).

    Most PUTs send the product as GET showed it with a few of its own fields changed. Those
    are decided on the product's row and its children read as plain rows: loading the whole
    graph as ORM objects, and flushing a session that holds it, cost most of a PUT's time.
    Anything that would change a variant, an option, an inventory item or the tag rows takes
    the full path, which loads the graph and replaces the structure.
    """
    _not_null(data, "title", "handle", "status", "variants", "options", "published", "gift_card")
    publication = requested_publication(data.published, data.published_at, data.model_fields_set)
    if publication is None and published is not None:
        publication = (published, None)
    repository = ProductRepository(session)
    # Variants and images are counted, added and renumbered under this lock.
    found = await repository.lock_with_structure(product_id)
    if found is None:
        raise product_not_found(product_id)
    product, stored = found
    check_if_match(if_match, product.version)
    given = data.model_fields_set
    kept_ids = _kept_as_stored(stored, data)
    full = kept_ids is None
    if full:
        product = await get_product(session, product_id)  # the whole graph, to replace
    structure_written = False
    # Nothing reaches the database before the change check below, unless the structure
    # replacement had to write (which is a change in itself).
    with session.no_autoflush:
        if "handle" in given and data.handle != product.handle:
            product.handle = await resolve_handle(
                repository, data.handle, product.title, except_id=product.id
            )
        for name in PRODUCT_FIELDS:
            if name in given:
                setattr(product, name, getattr(data, name))
        if publication is not None:
            apply_published(product, publication)
        if "tags" in given:
            tags = normalise_tags(data.tags)
            product.tags = tags_string(tags)
            if full:
                current = {row.tag: row for row in product.tag_rows}
                product.tag_rows = [current.get(tag) or ProductTag(tag=tag) for tag in tags]
        if full and (data.variants is not None or data.options is not None):
            structure_written = await replace_structure(
                session, product, data.options, data.variants
            )
        if full:
            changed = structure_written or has_changes(session, product)
            kept_ids = [v.id for v in product.variants]
        else:
            changed = session.is_modified(product)
        if not changed:
            return product, full
    await announce_update(session, product, kept_ids, actor=actor)
    if structure_written:
        # The structure's statements (renumbered positions, removed rows) run partly in Core,
        # behind the ORM's back: read the product again as it now is.
        return await get_product(session, product.id), True
    # Only ORM changes of rows already loaded: the product in hand is the product as written
    # (its version and update time included).
    return product, full


def _kept_as_stored(stored: StoredStructure, data: ProductUpdate) -> list[int] | None:
    """The product's variant ids (in the order the request gives them) when the request would
    leave its variants, options and tag rows as stored; None when it changes one of them, or
    when that is not decided without the ORM graph (a request that is refused included)."""
    if data.variants is not None:
        kept = kept_as_stored(stored, data.options, data.variants)
    elif data.options is None:
        kept = [v.id for v in stored.variants]
    else:
        return None  # options alone: rare, and checked against the variants on the full path
    if kept is not None and "tags" in data.model_fields_set:
        try:
            tags = normalise_tags(data.tags)
        except ShopdbError:
            return None
        if set(tags) != set(stored.tags):
            return None
    return kept


async def announce_update(
    session: AsyncSession,
    product: Product,
    variant_ids: list[int] | None = None,
    *,
    actor: str | None,
) -> None:
    """A change to the product or to anything below it (variants, their inventory items):
    the product row is written, so its version (the ETag) moves, and `products/update` is
    recorded. `variant_ids` default to the loaded variants'."""
    if variant_ids is None:
        variant_ids = [v.id for v in product.variants]
    product.updated_at = utcnow()
    record_event(
        session,
        topic="products/update",
        subject_type="Product",
        subject_id=product.id,
        body=_event_body(product, variant_ids),
        actor=actor,
    )
    await session.flush()  # the row and its event, in one flush


async def delete_product(
    session: AsyncSession, product_id: int, *, if_match: str | None, actor: str | None
) -> None:
    """Soft delete, releasing the handle and the SKUs for new products.

    The seed's UNIQUE constraints on `products.handle` and `product_variants.sku` stay: the
    deleted product's handle becomes `<handle>--deleted-<product id>` and each SKU
    `<sku>--deleted-<variant id>` (cut to fit 255 characters), in this transaction. The
    originals are in the `products/delete` event, for an audit or an undelete.
    """
    repository = ProductRepository(session)
    await repository.lock(product_id)
    product = await get_product(session, product_id)
    check_if_match(if_match, product.version)
    body: dict[str, object] = {
        "id": product.id,
        "handle": product.handle,
        "releasedHandle": deleted_name(product.handle, product.id),
        "variants": [
            {
                "id": v.id,
                "sku": v.sku,
                "releasedSku": deleted_name(v.sku, v.id) if v.sku else None,
            }
            for v in product.variants
        ],
    }
    now = utcnow()
    product.deleted_at = now
    product.handle = deleted_name(product.handle, product.id)
    await repository.flush()
    await repository.release_skus(product.id, now)
    record_event(
        session,
        topic="products/delete",
        subject_type="Product",
        subject_id=product.id,
        body=body,
        actor=actor,
    )


async def set_published(session: AsyncSession, product: Product, published: bool) -> None:
    """Shopify's Published flag on a product just created (updates take `published=`)."""
    apply_published(product, (published, None))
    await session.flush()

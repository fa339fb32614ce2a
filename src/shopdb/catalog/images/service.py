"""Product images: uploads checked by their bytes, ordering by position, links from CSV imports.

The bytes go to the storage backend before the row is written; a transaction that then fails
leaves an unreferenced file behind (harmless, and cheaper than the reverse: a row whose file
is missing). A deleted image's file is removed by a `files/delete` job enqueued in the
transaction that deletes the row (shopdb.jobs): after the commit, never after a rollback, and
not lost to a crash in between.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.errors import ImageLimitExceeded
from shopdb.catalog.images.repository import ImageRepository
from shopdb.catalog.products.repository import ProductRepository
from shopdb.catalog.products.service import get_product
from shopdb.catalog.rules import MAX_IMAGES
from shopdb.errors import NotFound, PayloadTooLarge, ValidationFailed
from shopdb.events.service import record_event
from shopdb.jobs import enqueue
from shopdb.jobs.kinds import FILES_DELETE, IMAGES_FETCH
from shopdb.kit.types import utcnow
from shopdb.models import Product, ProductImage
from shopdb.models.catalog import ProductImageVariant
from shopdb.storage import Storage

EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}


def sniff(data: bytes) -> str | None:
    """The image type from its magic bytes; the declared content type is not trusted."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def dimensions(data: bytes, content_type: str) -> tuple[int | None, int | None]:
    """Width and height read from the header, or (None, None) when it cannot be read."""
    try:
        if content_type == "image/png" and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        if content_type == "image/gif":
            width, height = struct.unpack("<HH", data[6:10])
            return int(width), int(height)
        if content_type == "image/webp":
            return _webp_size(data)
        if content_type == "image/jpeg":
            return _jpeg_size(data)
    except struct.error:
        pass
    return None, None


def _webp_size(data: bytes) -> tuple[int | None, int | None]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None, None


def _jpeg_size(data: bytes) -> tuple[int | None, int | None]:
    offset = 2
    while offset + 9 < len(data):
        if data[offset] != 0xFF:
            return None, None
        marker = data[offset + 1]
        length = struct.unpack(">H", data[offset + 2 : offset + 4])[0]
        # Start-of-frame markers carry the size (C4, C8 and CC are not frames).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return int(width), int(height)
        offset += 2 + length
    return None, None


def served_path(product_id: int, image_id: int) -> str:
    return f"/api/v1/products/{product_id}/images/{image_id}/file"


def _renumber(images: list[ProductImage]) -> None:
    for position, image in enumerate(images, start=1):
        image.position = position


def _place(images: list[ProductImage], image: ProductImage, position: int | None) -> None:
    """Put `image` at `position` (1-based, clamped) among `images`, renumbering all."""
    rest = [i for i in images if i is not image]
    index = len(rest) if position is None else max(0, min(position - 1, len(rest)))
    rest.insert(index, image)
    _renumber(rest)


def _event(session: AsyncSession, topic: str, image: ProductImage, actor: str | None) -> None:
    record_event(
        session,
        topic=topic,
        subject_type="ProductImage",
        subject_id=image.id,
        body={"id": image.id, "productId": image.product_id, "position": image.position},
        actor=actor,
    )


def _events_of(session: AsyncSession, changed: Sequence[ProductImage], actor: str | None) -> None:
    for image in changed:
        _event(session, "product_images/update", image, actor)


async def _locked_product(session: AsyncSession, product_id: int) -> Product:
    """The product, its row locked until commit: two uploads at once are counted one after
    the other, so neither can pass MAX_IMAGES."""
    await ProductRepository(session).lock(product_id)
    return await get_product(session, product_id)


def _check_room(product: Product, adding: int, *, field: str) -> None:
    count = len(product.images) + adding
    if count > MAX_IMAGES:
        raise ImageLimitExceeded(MAX_IMAGES, count, field)


@dataclass(frozen=True)
class Variants:
    """The variants a request gives an image: `variantIds` (Shopify's `variant_ids`), or the
    single `variantId` kept from before images had several (the same as `[variantId]`)."""

    ids: tuple[int, ...]
    field: str  # "variantIds" or "variantId", for errors

    @classmethod
    def of(cls, variant_ids: Sequence[int] | None, variant_id: int | None) -> Variants | None:
        if variant_ids is not None and variant_id is not None:
            raise ValidationFailed.on("variantId", "send variantIds or variantId, not both")
        if variant_ids is not None:
            return cls(tuple(dict.fromkeys(variant_ids)), "variantIds")
        if variant_id is not None:
            return cls((variant_id,), "variantId")
        return None

    @classmethod
    def changed(
        cls, fields: Collection[str], variant_ids: Sequence[int] | None, variant_id: int | None
    ) -> Variants | None:
        """For an update: what `fields` (the ones sent) set; `null` or `[]` removes them all."""
        if "variant_ids" in fields and "variant_id" in fields:
            raise ValidationFailed.on("variantId", "send variantIds or variantId, not both")
        if "variant_ids" in fields:
            return cls(tuple(dict.fromkeys(variant_ids or ())), "variantIds")
        if "variant_id" in fields:
            return cls(() if variant_id is None else (variant_id,), "variantId")
        return None


def _check_variants(product: Product, variants: Variants | None) -> None:
    if variants is None:
        return
    own = {v.id for v in product.variants}
    for index, variant_id in enumerate(variants.ids):
        if variant_id not in own:
            field = variants.field if variants.field == "variantId" else f"variantIds[{index}]"
            raise ValidationFailed.on(field, f"{variant_id} is not a variant of this product")


def _set_links(image: ProductImage, variant_ids: Collection[int]) -> bool:
    """Give `image` exactly these variants; whether that changed anything."""
    if set(variant_ids) == set(image.variant_ids):
        return False
    kept = [link for link in image.variant_links if link.variant_id in variant_ids]
    have = {link.variant_id for link in kept}
    added = [ProductImageVariant(variant_id=v) for v in variant_ids if v not in have]
    image.variant_links = sorted([*kept, *added], key=lambda link: link.variant_id)
    return True


def _claim(
    product: Product, image: ProductImage, variant_ids: Collection[int]
) -> list[ProductImage]:
    """`image` gets exactly `variant_ids`; a variant has one image (Shopify's variant
    `image_id`), so the product's other images lose them. The images that changed."""
    changed = [image] if _set_links(image, variant_ids) else []
    for other in product.images:
        if other is not image and _set_links(
            other, [v for v in other.variant_ids if v not in variant_ids]
        ):
            changed.append(other)
    return changed


@dataclass(frozen=True)
class Upload:
    data: bytes
    declared_type: str | None
    alt: str | None = None
    position: int | None = None
    variants: Variants | None = None


async def upload_image(
    session: AsyncSession,
    storage: Storage,
    product_id: int,
    upload: Upload,
    *,
    max_bytes: int,
    actor: str | None,
) -> ProductImage:
    """Store an upload as the product's next image (or at `position`), within MAX_IMAGES."""
    product = await _locked_product(session, product_id)
    _check_room(product, 1, field="file")
    if not upload.data:
        raise ValidationFailed.on("file", "is empty")
    if len(upload.data) > max_bytes:
        raise PayloadTooLarge(
            f"Images are limited to {max_bytes} bytes",
            [{"field": "file", "message": f"larger than {max_bytes} bytes"}],
        )
    content_type = sniff(upload.data)
    if content_type is None:
        raise ValidationFailed.on("file", "is not a PNG, JPEG, GIF or WebP image")
    declared = (upload.declared_type or "").split(";")[0].strip().lower()
    if declared not in ("", "application/octet-stream", content_type):
        raise ValidationFailed.on(
            "file", f"is declared as {declared} but its content is {content_type}"
        )
    _check_variants(product, upload.variants)
    key = f"products/{product.id}/{uuid.uuid4().hex}{EXTENSIONS[content_type]}"
    await storage.put(key, upload.data, content_type)
    width, height = dimensions(upload.data, content_type)
    image = ProductImage(
        product_id=product.id,
        position=len(product.images) + 1,
        alt=upload.alt,
        storage_key=key,
        content_type=content_type,
        size_bytes=len(upload.data),
        width=width,
        height=height,
        variant_links=[],
    )
    repository = ImageRepository(session)
    await repository.add(image)
    image.src = served_path(product.id, image.id)
    _place([*product.images, image], image, upload.position)
    others = _claim(product, image, upload.variants.ids if upload.variants else ())
    product.updated_at = utcnow()
    await session.flush()
    _event(session, "product_images/create", image, actor)
    _events_of(session, [o for o in others if o is not image], actor)
    return image


@dataclass(frozen=True)
class Source:
    """An image to download from `src` (Shopify's REST `POST .../images.json` with a src)."""

    src: str
    alt: str | None = None
    position: int | None = None
    variants: Variants | None = None


async def create_from_src(
    session: AsyncSession, product_id: int, source: Source, *, actor: str | None
) -> ProductImage:
    """The image row now (`processing`, counted against MAX_IMAGES) and its download queued
    in the same transaction: the worker fetches it (`images/fetch`, see fetch.py)."""
    product = await _locked_product(session, product_id)
    _check_room(product, 1, field="src")
    _check_variants(product, source.variants)
    image = ProductImage(
        product_id=product.id,
        position=len(product.images) + 1,
        alt=source.alt,
        src=source.src,
        status="processing",
        variant_links=[],
    )
    await ImageRepository(session).add(image)
    _place([*product.images, image], image, source.position)
    others = _claim(product, image, source.variants.ids if source.variants else ())
    product.updated_at = utcnow()
    await session.flush()
    _event(session, "product_images/create", image, actor)
    _events_of(session, [o for o in others if o is not image], actor)
    await enqueue(
        session, IMAGES_FETCH, {"productId": product.id, "imageId": image.id}, actor=actor
    )
    return image


async def get_image(session: AsyncSession, product_id: int, image_id: int) -> ProductImage:
    if not await _product_exists(session, product_id):
        raise NotFound.resource("Product", product_id)
    image = await ImageRepository(session).get(product_id, image_id)
    if image is None:
        raise NotFound.resource("Image", image_id)
    return image


async def _product_exists(session: AsyncSession, product_id: int) -> bool:
    return await ProductRepository(session).exists(product_id)


async def list_images(session: AsyncSession, product_id: int) -> list[ProductImage]:
    product = await get_product(session, product_id)
    return list(product.images)


async def update_image(
    session: AsyncSession,
    product_id: int,
    image_id: int,
    *,
    fields: set[str],
    position: int | None,
    alt: str | None,
    variants: Variants | None,
    actor: str | None,
) -> ProductImage:
    """Move an image to `position` (the others shift), change its alt text or variants.

    `variants` None leaves them; an empty list removes them all."""
    product = await get_product(session, product_id)
    image = next((i for i in product.images if i.id == image_id), None)
    if image is None:
        raise NotFound.resource("Image", image_id)
    if "alt" in fields:
        image.alt = alt
    others: list[ProductImage] = []
    if variants is not None:
        _check_variants(product, variants)
        others = [o for o in _claim(product, image, variants.ids) if o is not image]
    if "position" in fields and position is not None:
        _place(list(product.images), image, position)
    product.updated_at = utcnow()
    await session.flush()
    _event(session, "product_images/update", image, actor)
    _events_of(session, others, actor)
    return image


async def assign_variants(
    session: AsyncSession,
    product_id: int,
    image_of_variant: Mapping[int, int | None],
    *,
    actor: str | None,
) -> bool:
    """Give each variant in `image_of_variant` that image (or none), taking it from the
    product's other images (CSV imports' `Variant Image`). Whether anything changed."""
    product = await get_product(session, product_id)
    changed: list[ProductImage] = []
    for image in product.images:
        wanted = [v for v in image.variant_ids if v not in image_of_variant]
        wanted += [v for v, i in image_of_variant.items() if i == image.id]
        if _set_links(image, wanted):
            changed.append(image)
    if changed:
        product.updated_at = utcnow()
        await session.flush()
        _events_of(session, changed, actor)
    return bool(changed)


async def delete_image(
    session: AsyncSession, product_id: int, image_id: int, *, actor: str | None
) -> None:
    """Delete the row and renumber the rest; its file is deleted by a job once this commits."""
    product = await get_product(session, product_id)
    image = next((i for i in product.images if i.id == image_id), None)
    if image is None:
        raise NotFound.resource("Image", image_id)
    key = image.storage_key
    _event(session, "product_images/delete", image, actor)
    product.images.remove(image)
    _renumber(list(product.images))
    product.updated_at = utcnow()
    await session.flush()
    if key is not None:
        await enqueue(session, FILES_DELETE, {"key": key}, actor=actor)


async def add_linked_images(
    session: AsyncSession, product_id: int, links: Sequence[tuple[str, int | None, str | None]]
) -> bool:
    """Images known by URL (CSV imports): added unless the product already has that src.

    Whether any was added; when none is, nothing is written. More than MAX_IMAGES in all is
    refused (IMAGE_LIMIT_EXCEEDED, naming `images`) before anything is added.
    """
    product = await _locked_product(session, product_id)
    ordered = list(product.images)
    known = {i.src for i in ordered}
    _check_room(product, len({src for src, _, _ in links if src not in known}), field="images")
    added = False
    for src, position, alt in links:
        if src in known:
            continue
        image = ProductImage(
            product_id=product.id,
            src=src,
            alt=alt,
            position=len(ordered) + 1,
            variant_links=[],
        )
        product.images.append(image)
        ordered.append(image)
        _place(ordered, image, position)
        ordered.sort(key=lambda i: i.position)
        known.add(src)
        added = True
    if added:
        product.updated_at = utcnow()  # the product's version (its ETag) moves with its images
        await session.flush()
    return added

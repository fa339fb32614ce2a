"""/api/v1/products/{id}/images: upload, list, reorder, delete, and the bytes themselves."""

from __future__ import annotations

from typing import Annotated

from fastapi import File, Form, Request, Response, UploadFile

from shopdb.catalog.auth import ProductsRead, ProductsWrite
from shopdb.catalog.images import service as images
from shopdb.catalog.images.schemas import ImageUpdate
from shopdb.catalog.read_model.presenters import image_out
from shopdb.catalog.read_model.schemas import ImageOut
from shopdb.dependencies import SessionDep
from shopdb.errors import NotFound
from shopdb.kit.routing import domain_router
from shopdb.services import services_of
from shopdb.storage import ObjectNotFound, Storage

router = domain_router("/products", tags=["images"])


def get_storage(request: Request) -> Storage:
    return services_of(request.app).storage


@router.get("/{product_id}/images", response_model=list[ImageOut])
async def list_images(session: SessionDep, _: ProductsRead, product_id: int) -> list[ImageOut]:
    return [image_out(i) for i in await images.list_images(session, product_id)]


@router.post("/{product_id}/images", status_code=201, response_model=ImageOut)
async def upload_image(
    request: Request,
    session: SessionDep,
    subject: ProductsWrite,
    product_id: int,
    file: Annotated[UploadFile, File(description="PNG, JPEG, GIF or WebP")],
    alt: Annotated[str | None, Form(max_length=512)] = None,
    position: Annotated[int | None, Form(ge=1, le=10_000)] = None,
    variant_id: Annotated[int | None, Form(alias="variantId", ge=1)] = None,
) -> ImageOut:
    """Multipart upload; the type is read from the file's bytes and the size is limited."""
    limit = services_of(request.app).settings.image_max_bytes
    data = await file.read(limit + 1)
    image = await images.upload_image(
        session,
        get_storage(request),
        product_id,
        images.Upload(data, file.content_type, alt, position, variant_id),
        max_bytes=limit,
        actor=subject.principal,
    )
    return image_out(image)


@router.get("/{product_id}/images/{image_id}", response_model=ImageOut)
async def get_image(
    session: SessionDep, _: ProductsRead, product_id: int, image_id: int
) -> ImageOut:
    return image_out(await images.get_image(session, product_id, image_id))


@router.get("/{product_id}/images/{image_id}/file", response_class=Response)
async def get_image_file(
    request: Request, session: SessionDep, _: ProductsRead, product_id: int, image_id: int
) -> Response:
    """The uploaded bytes, with their content type."""
    image = await images.get_image(session, product_id, image_id)
    if image.storage_key is None:
        raise NotFound("This image is a link; fetch it from its src")
    try:
        data = await get_storage(request).get(image.storage_key)
    except ObjectNotFound as exc:
        raise NotFound(f"The file of image {image_id} is missing from storage") from exc
    return Response(
        data,
        media_type=image.content_type or "application/octet-stream",
        headers={"Cache-Control": "private, max-age=86400", "ETag": f'"{image.storage_key}"'},
    )


@router.put("/{product_id}/images/{image_id}", response_model=ImageOut)
async def update_image(
    session: SessionDep,
    subject: ProductsWrite,
    product_id: int,
    image_id: int,
    data: ImageUpdate,
) -> ImageOut:
    """Move to `position` (the others shift to make room), change `alt` or `variantId`."""
    image = await images.update_image(
        session,
        product_id,
        image_id,
        fields=set(data.model_fields_set),
        position=data.position,
        alt=data.alt,
        variant_id=data.variant_id,
        actor=subject.principal,
    )
    return image_out(image)


@router.delete("/{product_id}/images/{image_id}", status_code=204, response_class=Response)
async def delete_image(
    session: SessionDep,
    subject: ProductsWrite,
    product_id: int,
    image_id: int,
) -> Response:
    """Delete the image; its file is removed by a job once the deletion is committed."""
    await images.delete_image(session, product_id, image_id, actor=subject.principal)
    return Response(status_code=204)

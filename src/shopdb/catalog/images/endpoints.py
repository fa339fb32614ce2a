"""/api/v1/products/{id}/images: upload, list, reorder, delete, and the bytes themselves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, Form, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from shopdb.catalog.auth import ProductsRead, ProductsWrite
from shopdb.catalog.images import service as images
from shopdb.catalog.images.schemas import ImageFromSrc, ImageUpdate
from shopdb.catalog.read_model.presenters import image_out
from shopdb.catalog.read_model.schemas import ImageOut
from shopdb.dependencies import SessionDep
from shopdb.errors import NotFound, ValidationFailed
from shopdb.kit.routing import domain_router
from shopdb.services import services_of
from shopdb.storage import ObjectNotFound, Storage

router = domain_router("/products", tags=["images"])


def get_storage(request: Request) -> Storage:
    return services_of(request.app).storage


@router.get("/{product_id}/images", response_model=list[ImageOut])
async def list_images(session: SessionDep, _: ProductsRead, product_id: int) -> list[ImageOut]:
    return [image_out(i) for i in await images.list_images(session, product_id)]


_CREATE_DOC: dict[str, Any] = {
    "requestBody": {
        "content": {
            "application/json": {"schema": ImageFromSrc.model_json_schema(by_alias=True)},
        }
    }
}


@router.post(
    "/{product_id}/images", status_code=201, response_model=ImageOut, openapi_extra=_CREATE_DOC
)
async def upload_image(
    request: Request,
    session: SessionDep,
    subject: ProductsWrite,
    product_id: int,
    file: Annotated[UploadFile | None, File(description="PNG, JPEG, GIF or WebP")] = None,
    alt: Annotated[str | None, Form(max_length=512)] = None,
    position: Annotated[int | None, Form(ge=1, le=10_000)] = None,
    variant_id: Annotated[int | None, Form(alias="variantId", ge=1)] = None,
    variant_ids: Annotated[
        list[int] | None,
        Form(alias="variantIds", description="Repeat the field for each variant"),
    ] = None,
) -> ImageOut:
    """A multipart upload (the type is read from the file's bytes, the size is limited), or
    JSON `{"src": "https://..."}`: the image is created `processing` and a job downloads it."""
    if file is None:
        if _is_json(request):
            source = _source(await request.body())
            image = await images.create_from_src(
                session,
                product_id,
                images.Source(
                    source.src,
                    source.alt,
                    source.position,
                    images.Variants.of(source.variant_ids, source.variant_id),
                ),
                actor=subject.principal,
            )
            return image_out(image)
        raise ValidationFailed.on("file", "is required (or send JSON with a src)")
    limit = services_of(request.app).settings.image_max_bytes
    data = await file.read(limit + 1)
    image = await images.upload_image(
        session,
        get_storage(request),
        product_id,
        images.Upload(
            data,
            file.content_type,
            alt,
            position,
            images.Variants.of(_checked_ids(variant_ids), variant_id),
        ),
        max_bytes=limit,
        actor=subject.principal,
    )
    return image_out(image)


def _checked_ids(variant_ids: list[int] | None) -> list[int] | None:
    for index, variant_id in enumerate(variant_ids or ()):
        if variant_id < 1:
            raise ValidationFailed.on(f"variantIds[{index}]", "must be at least 1")
    return variant_ids


def _is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _source(body: bytes) -> ImageFromSrc:
    try:
        return ImageFromSrc.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


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
        if image.status == "processing":
            raise NotFound("This image is still being downloaded")
        if image.status == "failed":
            raise NotFound("This image could not be downloaded; see its errorMessage")
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
    """Move to `position` (the others shift to make room), change `alt` or `variantIds`."""
    fields = set(data.model_fields_set)
    image = await images.update_image(
        session,
        product_id,
        image_id,
        fields=fields,
        position=data.position,
        alt=data.alt,
        variants=images.Variants.changed(fields, data.variant_ids, data.variant_id),
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

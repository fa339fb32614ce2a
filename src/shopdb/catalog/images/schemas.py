"""What a client sends to change an image (uploads are multipart forms, see endpoints.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AnyHttpUrl, Field, TypeAdapter, ValidationError, field_validator

from shopdb.catalog.rules import MAX_VARIANTS
from shopdb.kit.schemas import InputModel

VariantIds = Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=MAX_VARIANTS)]


class ImageUpdate(InputModel):
    position: int | None = Field(default=None, ge=1, le=10_000)
    alt: Annotated[str, Field(max_length=512)] | None = None
    # The image's variants (Shopify's variant_ids): all of them, replacing the current ones.
    variant_ids: VariantIds | None = None
    # One variant: the same as variantIds [variantId] (kept from when an image had one).
    variant_id: int | None = Field(default=None, ge=1)


_HTTP_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


class ImageFromSrc(InputModel):
    """POST /products/{id}/images as JSON: the worker downloads `src` (http or https)."""

    src: Annotated[str, Field(min_length=1, max_length=2048)]
    alt: Annotated[str, Field(max_length=512)] | None = None
    position: int | None = Field(default=None, ge=1, le=10_000)
    variant_ids: VariantIds | None = None
    variant_id: int | None = Field(default=None, ge=1)

    @field_validator("src")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = _HTTP_URL.validate_python(value)
        except ValidationError:
            raise ValueError("must be an absolute http or https URL") from None
        if url.username or url.password:
            raise ValueError("must not carry credentials")
        return value

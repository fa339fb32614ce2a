"""What a client sends to change an image (uploads are multipart forms, see endpoints.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shopdb.kit.schemas import InputModel


class ImageUpdate(InputModel):
    position: int | None = Field(default=None, ge=1, le=10_000)
    alt: Annotated[str, Field(max_length=512)] | None = None
    variant_id: int | None = Field(default=None, ge=1)

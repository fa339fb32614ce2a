"""Base schemas: camelCase on the wire, snake_case in Python; the page envelope."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        from_attributes=True,
    )


class InputModel(CamelModel):
    """Request bodies: unknown fields are refused, so a typo is a 400, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


T = TypeVar("T")


class Page(CamelModel, Generic[T]):
    items: list[T]
    total_count: int
    page: int
    page_size: int
    next_cursor: str | None = None


class ErrorDetailSchema(BaseModel):
    field: str
    message: str


class ErrorResponse(BaseModel):
    code: str
    message: str
    details: list[ErrorDetailSchema] = Field(default_factory=list)

"""Base schemas: camelCase on the wire, snake_case in Python; the page envelope."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from shopdb.kit.bounds import problems


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        from_attributes=True,
    )


class InputModel(CamelModel):
    """Request bodies: unknown fields are refused, so a typo is a 400, not a silent no-op.

    Fields the API writes itself (`id`, timestamps, a variant's `title`...) are accepted and
    ignored, as Shopify does: clients commonly send back what they read (GET, change one
    field, PUT). A model names them in `read_only` (snake_case); a real field of the model
    with the same name is never dropped.

    No string may hold a NUL character and no integer may leave PostgreSQL's BIGINT, in any
    field of any request body (see kit/bounds.py): a 400 naming the field, not a server error.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    read_only: ClassVar[frozenset[str]] = frozenset({"id", "created_at", "updated_at"})
    # Wire names (camelCase and snake_case) of `read_only` minus the model's own fields.
    _ignored_on_input: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        ignored = {name for name in cls.read_only if name not in cls.model_fields}
        cls._ignored_on_input = frozenset(ignored | {to_camel(name) for name in ignored})

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and not cls._ignored_on_input.isdisjoint(data):
            return {k: v for k, v in data.items() if k not in cls._ignored_on_input}
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _within_database_bounds(cls, value: Any) -> Any:
        for path, message in problems(value):
            raise ValueError(f"{path}: {message}" if path else message)
        return value


T = TypeVar("T")


class Page(CamelModel, Generic[T]):
    """A page of a list. `totalCount` is null unless the request asked `withTotal=true`."""

    items: list[T]
    total_count: int | None = None
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

"""A query string read into one Pydantic model, at Pydantic's speed.

FastAPI (0.16x) reads a query-parameter model (`Annotated[Model, Query()]`) field by field on
every request, inspecting each field's type annotation anew (is it a sequence? which aliases?):
for the product list's 15 fields that was about a third of the server's CPU for a page read
from stored documents. `query_model(Model)` looks at the model's fields once; a request's query
string is then validated by Pydantic directly. The endpoint declares

    query: Annotated[ProductListQuery, query_model(ProductListQuery)]

and gets the same model, the same 400 for a bad value (a RequestValidationError located in
`query`), the same parameters in the OpenAPI document (`openapi_parameters`, which the route
class adds), and the same unknown-parameter check (kit.routing.ParameterGuard reads the model's
aliases from the dependency's QueryReader).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError


def _is_sequence(annotation: Any) -> bool:
    """Whether a field takes a repeated parameter (`?tag=a&tag=b`): a list, set or tuple,
    possibly optional."""
    origin = typing.get_origin(annotation)
    if origin in (list, set, tuple, frozenset, Sequence):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_sequence(arg) for arg in typing.get_args(annotation))
    return False


def query_aliases(model: type[BaseModel]) -> dict[str, Any]:
    """{parameter name: type} of a query model: its fields by alias (camelCase)."""
    return {(info.alias or name): info.annotation for name, info in model.model_fields.items()}


def query_model(model: type[BaseModel]) -> Any:
    """The dependency that reads the query string into `model` (see the module docstring)."""
    return Depends(QueryReader(model))


class QueryReader:
    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.aliases = query_aliases(model)
        self.repeated = frozenset(a for a, t in self.aliases.items() if _is_sequence(t))

    async def __call__(self, request: Request) -> Any:
        params = request.query_params
        values: dict[str, Any] = {}
        for name in params:
            if name in self.aliases:
                values[name] = params.getlist(name) if name in self.repeated else params[name]
        try:
            return self.model.model_validate(values)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            raise RequestValidationError(
                [{**error, "loc": ("query", *error["loc"])} for error in errors]
            ) from None

    def openapi_parameters(self) -> list[dict[str, Any]]:
        """The model's fields as OpenAPI query parameters, as FastAPI documents them."""
        schema = self.model.model_json_schema(by_alias=True, mode="validation")
        if "$defs" in schema:
            # A field typed by a nested model or an Enum class would need its definition in
            # the document's components; query models use Literal and plain types.
            raise TypeError(f"{self.model.__name__}: a query model's fields must be plain")
        required = set(schema.get("required", ()))
        parameters = []
        for alias, field_schema in schema["properties"].items():
            parameter: dict[str, Any] = {
                "name": alias,
                "in": "query",
                "required": alias in required,
                "schema": field_schema,
            }
            if "description" in field_schema:
                parameter["description"] = field_schema["description"]
            parameters.append(parameter)
        return parameters

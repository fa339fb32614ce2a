"""Responses serialised straight from a Pydantic model (camelCase, no second validation pass)."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel


def model_response(
    model: BaseModel,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    exclude: Any = None,
) -> Response:
    body = model.model_dump_json(by_alias=True, exclude=exclude)
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)

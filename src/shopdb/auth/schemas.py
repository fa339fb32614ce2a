from __future__ import annotations

from typing import Literal

from pydantic import Field

from shopdb.kit.schemas import CamelModel, InputModel


class TokenRequest(InputModel):
    email: str = Field(min_length=3, max_length=255)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(CamelModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int

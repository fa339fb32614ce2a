from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field

from shopdb.kit.schemas import CamelModel, InputModel

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
Role = Literal["admin", "staff"]


def check_email(value: str) -> str:
    value = value.strip().lower()
    if not EMAIL_PATTERN.match(value):
        raise ValueError("is not an email address")
    return value


Email = Annotated[str, Field(max_length=255), AfterValidator(check_email)]


class UserCreate(InputModel):
    email: Email
    password: str = Field(min_length=1, max_length=1024)
    role: Role = "staff"
    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, max_length=50)
    active: bool = True
    permissions: list[str] = Field(default_factory=list, max_length=100)


class UserUpdate(InputModel):
    """Only the fields sent change; `password` sets a new one."""

    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, max_length=50)
    role: Role | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1024)


class GrantRead(CamelModel):
    permission: str
    granted_at: datetime
    expires_at: datetime | None
    expired: bool


class UserRead(CamelModel):
    id: int
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    role: str
    active: bool
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime


class UserDetail(UserRead):
    grants: list[GrantRead]
    effective_permissions: list[str] = Field(
        description="What a token issued now would carry: every permission for role admin"
    )


class GrantCreate(InputModel):
    permission: str = Field(min_length=1, max_length=255)
    expires_at: AwareDatetime | None = None


class PermissionRead(CamelModel):
    name: str
    description: str | None
    resource: str
    action: str

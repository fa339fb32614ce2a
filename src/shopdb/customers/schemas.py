"""Customer DTOs. Email and phone leave the API decrypted; they are ciphertext in the tables."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from shopdb.kit.schemas import CamelModel, InputModel
from shopdb.users.schemas import check_email

CustomerState = Literal["disabled", "invited", "enabled", "declined"]
SortField = Literal["id", "createdAt", "updatedAt", "firstName", "lastName", "state"]
SortDirection = Literal["asc", "desc"]

_PHONE = re.compile(r"^\+?[0-9][0-9 ().\-]{2,49}$")


def _check_phone(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not _PHONE.match(value):
        raise ValueError("is not a phone number (digits, spaces, + ( ) . -)")
    return value


def _check_tags(tags: list[str]) -> list[str]:
    """Stripped, blank ones refused, duplicates dropped (tags are unique per customer)."""
    seen: dict[str, None] = {}
    for tag in tags:
        tag = tag.strip()
        if not tag:
            raise ValueError("tags must not be blank")
        if len(tag) > 255:
            raise ValueError("a tag is at most 255 characters")
        seen.setdefault(tag, None)
    return list(seen)


Email = Annotated[str, Field(max_length=255), AfterValidator(check_email)]
Phone = Annotated[str | None, Field(max_length=50), AfterValidator(_check_phone)]
Tags = Annotated[list[str], Field(max_length=250), AfterValidator(_check_tags)]


ADDRESS_READ_ONLY = InputModel.read_only | {"customer_id"}


class AddressInput(InputModel):
    read_only = ADDRESS_READ_ONLY

    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    company: str | None = Field(default=None, max_length=255)
    address1: str = Field(min_length=1, max_length=255)
    address2: str | None = Field(default=None, max_length=255)
    city: str = Field(min_length=1, max_length=255)
    province: str | None = Field(default=None, max_length=255)
    country: str = Field(min_length=1, max_length=255)
    zip: str | None = Field(default=None, max_length=50)
    phone: Phone = None
    is_default: bool = False


class AddressUpdate(InputModel):
    """Only the fields sent change. `isDefault: true` makes it the default address."""

    read_only = ADDRESS_READ_ONLY

    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    company: str | None = Field(default=None, max_length=255)
    address1: str | None = Field(default=None, min_length=1, max_length=255)
    address2: str | None = Field(default=None, max_length=255)
    city: str | None = Field(default=None, min_length=1, max_length=255)
    province: str | None = Field(default=None, max_length=255)
    country: str | None = Field(default=None, min_length=1, max_length=255)
    zip: str | None = Field(default=None, max_length=50)
    phone: Phone = None
    is_default: bool | None = None


class AddressRead(CamelModel):
    id: int
    customer_id: int
    first_name: str | None
    last_name: str | None
    company: str | None
    address1: str
    address2: str | None
    city: str
    province: str | None
    country: str
    zip: str | None
    phone: str | None
    is_default: bool
    created_at: datetime
    updated_at: datetime


# What CustomerDetail shows that a customer body does not set.
CUSTOMER_READ_ONLY = InputModel.read_only | {"group_ids", "version", "default_address"}


class CustomerCreate(InputModel):
    read_only = CUSTOMER_READ_ONLY

    email: Email
    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    phone: Phone = None
    state: CustomerState = "enabled"
    accepts_marketing: bool = False
    note: str | None = Field(default=None, max_length=5000)
    tags: Tags = Field(default_factory=list)
    addresses: list[AddressInput] = Field(default_factory=list, max_length=50)


class CustomerUpdate(InputModel):
    # A PUT does not replace addresses (they have their own endpoints): sent back, ignored.
    read_only = CUSTOMER_READ_ONLY | {"addresses"}
    """Only the fields sent change; `tags`, when sent, replaces the whole set."""

    email: Email | None = None
    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    phone: Phone = None
    state: CustomerState | None = None
    accepts_marketing: bool | None = None
    note: str | None = Field(default=None, max_length=5000)
    tags: Tags | None = None


class CustomerRead(CamelModel):
    id: int
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    state: str
    accepts_marketing: bool
    note: str | None
    tags: list[str]
    group_ids: list[int]
    version: int
    created_at: datetime
    updated_at: datetime


class CustomerDetail(CustomerRead):
    addresses: list[AddressRead]
    default_address: AddressRead | None


GROUP_READ_ONLY = InputModel.read_only | {"member_count"}


class GroupCreate(InputModel):
    read_only = GROUP_READ_ONLY

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=5000)
    discount_percentage: Decimal = Field(default=Decimal("0"), ge=0, le=100, decimal_places=2)


class GroupUpdate(InputModel):
    read_only = GROUP_READ_ONLY
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=5000)
    discount_percentage: Decimal | None = Field(default=None, ge=0, le=100, decimal_places=2)


class GroupRead(CamelModel):
    id: int
    name: str
    description: str | None
    discount_percentage: Decimal | None
    member_count: int
    created_at: datetime
    updated_at: datetime


class MemberRead(CamelModel):
    customer_id: int
    added_at: datetime

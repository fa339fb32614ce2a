"""Customer DTOs. Email and phone leave the API decrypted; they are ciphertext in the tables."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field, WithJsonSchema

from shopdb.customers.tax import TAX_EXEMPTION_CODES, check_tax_exemption
from shopdb.kit.schemas import CamelModel, InputModel
from shopdb.users.schemas import check_email

CustomerState = Literal["disabled", "invited", "enabled", "declined"]
MarketingState = Literal["subscribed", "not_subscribed", "pending", "unsubscribed", "redacted"]
OptInLevel = Literal["single_opt_in", "confirmed_opt_in", "unknown"]
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
    """Stripped, blank ones refused, duplicates in any letter case dropped: tags are unique
    per customer whatever their case (as products' are), and the first spelling is kept."""
    seen: dict[str, str] = {}
    for tag in tags:
        tag = tag.strip()
        if not tag:
            raise ValueError("tags must not be blank")
        if len(tag) > 255:
            raise ValueError("a tag is at most 255 characters")
        seen.setdefault(tag.lower(), tag)
    return list(seen.values())


def _in_utc(moment: datetime | None) -> datetime | None:
    """UTC, as stored; a moment at the very edge of the calendar cannot be moved there."""
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


def _unique_codes(codes: list[str]) -> list[str]:
    return list(dict.fromkeys(codes))


Email = Annotated[str, Field(max_length=255), AfterValidator(check_email)]
Phone = Annotated[str | None, Field(max_length=50), AfterValidator(_check_phone)]
Tags = Annotated[list[str], Field(max_length=250), AfterValidator(_check_tags)]
TaxExemptionCode = Annotated[
    str,
    AfterValidator(check_tax_exemption),
    WithJsonSchema({"type": "string", "enum": list(TAX_EXEMPTION_CODES)}),
]
TaxExemptions = Annotated[
    list[TaxExemptionCode],
    Field(max_length=len(TAX_EXEMPTION_CODES)),
    AfterValidator(_unique_codes),
]


class MarketingConsentInput(InputModel):
    """Shopify's consent record for one channel; see shopdb.customers.consent for the rules."""

    state: MarketingState
    opt_in_level: OptInLevel | None = None
    consent_updated_at: Annotated[AwareDatetime | None, AfterValidator(_in_utc)] = None


class MarketingConsentRead(CamelModel):
    state: MarketingState
    opt_in_level: OptInLevel | None
    consent_updated_at: datetime | None


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


# What CustomerDetail shows that a customer body does not set. `state` changes only through
# the invite, activate and disable actions.
# `orders_count` and `total_spent` are computed from the customer's orders.
CUSTOMER_READ_ONLY = InputModel.read_only | {
    "group_ids",
    "version",
    "default_address",
    "state",
    "orders_count",
    "total_spent",
}


class CustomerCreate(InputModel):
    read_only = CUSTOMER_READ_ONLY

    email: Email
    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    phone: Phone = None
    note: str | None = Field(default=None, max_length=5000)
    tags: Tags = Field(default_factory=list)
    addresses: list[AddressInput] = Field(default_factory=list, max_length=50)
    email_marketing_consent: MarketingConsentInput | None = None
    sms_marketing_consent: MarketingConsentInput | None = None
    tax_exempt: bool = False
    tax_exemptions: TaxExemptions = Field(default_factory=list)


class CustomerUpdate(InputModel):
    # A PUT does not replace addresses (they have their own endpoints): sent back, ignored.
    read_only = CUSTOMER_READ_ONLY | {"addresses"}
    """Only the fields sent change; `tags`, when sent, replaces the whole set."""

    email: Email | None = None
    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    phone: Phone = None
    note: str | None = Field(default=None, max_length=5000)
    tags: Tags | None = None
    email_marketing_consent: MarketingConsentInput | None = None
    sms_marketing_consent: MarketingConsentInput | None = None
    tax_exempt: bool | None = None
    tax_exemptions: TaxExemptions | None = None


class CustomerRead(CamelModel):
    id: int
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    state: CustomerState
    note: str | None
    tags: list[str]
    email_marketing_consent: MarketingConsentRead
    sms_marketing_consent: MarketingConsentRead
    tax_exempt: bool
    tax_exemptions: list[str]
    group_ids: list[int]
    # Placed orders, cancelled ones included; total_spent leaves the cancelled ones out
    # (Shopify's orders_count and total_spent; see orders.service.customer_order_stats).
    orders_count: int
    total_spent: Decimal
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

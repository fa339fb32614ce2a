"""A customer's data export and the outcome of a redaction, on the wire."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from shopdb.customers.schemas import AddressRead, MarketingConsentRead
from shopdb.events.schemas import EventRead
from shopdb.kit.schemas import CamelModel
from shopdb.orders.schemas import OrderDetail
from shopdb.selling_plans.schemas import ContractRead


class CustomerExport(CamelModel):
    id: int
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    state: str
    note: str | None
    email_marketing_consent: MarketingConsentRead
    sms_marketing_consent: MarketingConsentRead
    tax_exempt: bool
    tax_exemptions: list[str]
    tags: list[str]
    group_ids: list[int]
    created_at: datetime
    updated_at: datetime
    redacted_at: datetime | None


class CheckoutExport(CamelModel):
    """A checkout as held, without its token (the checkout's only credential)."""

    id: int
    email: str
    customer_id: int | None
    currency: str
    line_items: list[Any]
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    discount_code: str | None
    note: str | None
    subtotal_price: Decimal
    total_discounts: Decimal
    total_shipping: Decimal
    total_tax: Decimal
    total_price: Decimal
    completed_at: datetime | None
    order_id: int | None
    abandoned_at: datetime | None
    recovered_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AbandonedCheckoutExport(CamelModel):
    id: int
    email: str | None
    phone: str | None
    sms_marketing_phone: str | None
    customer_id: int | None
    currency: str
    line_items: list[Any]
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    note: str | None
    customer_locale: str | None
    total_price: Decimal
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class GiftCardExport(CamelModel):
    """A gift card the customer owns: never its code (the database keeps only a hash)."""

    id: int
    last_characters: str
    initial_value: Decimal
    balance: Decimal
    currency: str
    status: str
    note: str | None
    expires_at: datetime | None
    disabled_at: datetime | None
    created_at: datetime


class MetafieldExport(CamelModel):
    id: int
    owner_resource: str
    owner_id: int
    namespace: str
    key: str
    type: str
    value: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime


class SubscriptionContractExport(ContractRead):
    """A subscription contract as GET /api/v1/subscription-contracts/{id} shows it, with the
    addresses its renewals ship to."""

    shipping_address: dict[str, Any] | None = None
    billing_address: dict[str, Any] | None = None


class DataExport(CamelModel):
    """Everything held about one customer (POST /api/v1/customers/{id}/data-request)."""

    requested_at: datetime
    customer: CustomerExport
    addresses: list[AddressRead]
    orders: list[OrderDetail]
    checkouts: list[CheckoutExport]
    abandoned_checkouts: list[AbandonedCheckoutExport]
    gift_cards: list[GiftCardExport]
    subscription_contracts: list[SubscriptionContractExport]
    # The customer's own and its orders' metafields.
    metafields: list[MetafieldExport]
    # Events about the customer, its orders (and their fulfillments, refunds, returns), its
    # checkouts and gift cards, oldest first.
    events: list[EventRead]


class RedactionRead(CamelModel):
    """What POST /api/v1/customers/{id}/redact did (no personal data: there is none left)."""

    customer_id: int
    redacted_at: datetime
    # False when the customer had been redacted before and nothing was left to erase.
    changed: bool
    # Shopify's `orders_to_redact`: the customer's orders and guest orders with its email.
    order_ids: list[int]
    checkout_ids: list[int]
    abandoned_checkout_ids: list[int]

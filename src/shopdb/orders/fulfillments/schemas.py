"""Fulfillments, fulfillment orders and fulfillment services on the wire (camelCase)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from shopdb.kit.schemas import CamelModel, InputModel

TrackingText = Annotated[str, Field(min_length=1, max_length=255)]
TrackingUrl = Annotated[str, Field(min_length=1, max_length=500)]
FulfillmentStatus = Literal["success", "cancelled"]
FulfillmentOrderStatus = Literal["open", "in_progress", "closed", "cancelled"]
RequestStatus = Literal["unsubmitted", "submitted", "accepted", "rejected", "closed"]


class FulfillmentLineInput(InputModel):
    id: int = Field(ge=1, description="The order line item's id")
    quantity: int = Field(ge=1, le=100_000)


class _Tracking(InputModel):
    tracking_company: str | None = Field(default=None, max_length=255)
    tracking_numbers: list[TrackingText] | None = Field(default=None, max_length=50)
    tracking_urls: list[TrackingUrl] | None = Field(default=None, max_length=50)
    notify_customer: bool = False


class FulfillmentCreate(_Tracking):
    location_id: int | None = Field(default=None, ge=1)
    # Omitted: every unit still to fulfil (of `locationId`'s lines when it is given).
    line_items: list[FulfillmentLineInput] | None = Field(
        default=None, min_length=1, max_length=250
    )

    @field_validator("line_items")
    @classmethod
    def _each_line_once(
        cls, value: list[FulfillmentLineInput] | None
    ) -> list[FulfillmentLineInput] | None:
        if value is not None and len({line.id for line in value}) != len(value):
            raise ValueError("each line item at most once")
        return value


class FulfillmentUpdate(_Tracking):
    """PUT: the tracking details (each given field replaces the stored one)."""


class FulfillmentLineRead(CamelModel):
    id: int  # the order line item's id, as Shopify's fulfillment line_items
    quantity: int


class FulfillmentRead(CamelModel):
    id: int
    order_id: int
    status: str
    location_id: int | None
    tracking_company: str | None
    tracking_numbers: list[str]
    tracking_urls: list[str]
    line_items: list[FulfillmentLineRead]
    created_at: datetime
    updated_at: datetime


class FulfillmentList(CamelModel):
    items: list[FulfillmentRead]


# --- fulfillment orders ----------------------------------------------------------------


class FulfillmentOrderLineRead(CamelModel):
    id: int
    line_item_id: int
    quantity: int
    # What of the order line is still to ship (ordered - fulfilled - removed), at most
    # `quantity`; 0 once the fulfillment order is closed or cancelled.
    fulfillable_quantity: int


class FulfillmentOrderRead(CamelModel):
    id: int
    order_id: int
    status: str
    request_status: str
    fulfillment_service_id: int
    assigned_location_id: int | None
    destination: dict[str, Any] | None
    requested_at: datetime | None
    fulfilled_at: datetime | None
    line_items: list[FulfillmentOrderLineRead]
    created_at: datetime
    updated_at: datetime


class FulfillmentOrderList(CamelModel):
    items: list[FulfillmentOrderRead]


class FulfillmentRequestInput(InputModel):
    # The service asked to ship it; a location's fulfillment order must name one.
    fulfillment_service_id: int | None = Field(default=None, ge=1)
    message: str | None = Field(default=None, max_length=1000)


class FulfillmentOrderMessage(InputModel):
    message: str | None = Field(default=None, max_length=1000)


# --- fulfillment services --------------------------------------------------------------

Handle = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class FulfillmentServiceCreate(InputModel):
    name: str = Field(min_length=1, max_length=255)
    # Default: from the name (lower case, dashes).
    handle: Handle | None = None
    location_id: int | None = Field(default=None, ge=1)
    format: Literal["json", "xml"] = "json"
    inventory_management: bool = False
    tracking_support: bool = False


class FulfillmentServiceUpdate(InputModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    location_id: int | None = Field(default=None, ge=1)
    format: Literal["json", "xml"] | None = None
    inventory_management: bool | None = None
    tracking_support: bool | None = None


class FulfillmentServiceRead(CamelModel):
    id: int
    name: str
    handle: str
    service_type: str
    format: str
    location_id: int | None
    inventory_management: bool
    tracking_support: bool
    created_at: datetime
    updated_at: datetime


class FulfillmentServiceList(CamelModel):
    items: list[FulfillmentServiceRead]

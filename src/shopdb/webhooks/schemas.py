"""Webhook subscriptions and deliveries on the wire. The secret appears once: at creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from shopdb.kit.schemas import CamelModel, InputModel
from shopdb.webhooks.topics import TOPICS

Address = Annotated[str, Field(min_length=1, max_length=500)]
FieldName = Annotated[str, Field(min_length=1, max_length=100)]
Fields = Annotated[
    list[FieldName] | None,
    Field(
        max_length=100,
        description="top-level keys of the payload to send; null: all of them",
    ),
]


def _known_topic(topic: str) -> str:
    if topic not in TOPICS:
        raise ValueError("is not a webhook topic; GET /api/v1/webhooks/topics lists them")
    return topic


class WebhookCreate(InputModel):
    topic: str = Field(max_length=255, examples=["orders/create"])
    address: Address = Field(examples=["https://example.com/hooks/orders"])
    format: Literal["json"] = "json"
    fields: Fields = None
    active: bool = True

    _topic = field_validator("topic")(_known_topic)


class WebhookUpdate(InputModel):
    """Only the fields sent change; `active: true` also clears a deactivation's failure run."""

    topic: str | None = Field(default=None, max_length=255)
    address: Address | None = None
    format: Literal["json"] | None = None
    fields: Fields = None
    active: bool | None = None

    @field_validator("topic")
    @classmethod
    def _topic(cls, topic: str | None) -> str | None:
        return None if topic is None else _known_topic(topic)


class WebhookRead(CamelModel):
    id: int
    topic: str
    address: str
    format: str
    fields: list[str] | None
    active: bool
    consecutive_failures: int = Field(description="deliveries abandoned in a row")
    deactivated_at: datetime | None = Field(
        description="when that run of failures deactivated the subscription"
    )
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookRead):
    secret: str = Field(
        description="the key of X-Shopdb-Hmac-Sha256; shown in this answer only, keep it"
    )


class TopicRead(CamelModel):
    topic: str
    description: str


class AttemptRead(CamelModel):
    attempt: int
    at: datetime
    duration_ms: int
    status_code: int | None = Field(description="the receiver's answer; null: none came")
    error: str | None


class DeliveryRead(CamelModel):
    id: int
    webhook_id: int
    webhook_uid: str = Field(description="X-Shopdb-Webhook-Id: the same on every attempt")
    event_id: int | None
    topic: str
    status: str = Field(
        description="pending, failed (retried at nextAttemptAt), succeeded, abandoned"
    )
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    response_status: int | None
    duration_ms: int | None = Field(description="the last attempt's, in milliseconds")
    last_error: str | None
    triggered_at: datetime
    attempt_log: list[AttemptRead] = Field(description="the latest attempts, oldest first")
    payload: Any

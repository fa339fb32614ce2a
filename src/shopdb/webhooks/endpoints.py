"""/api/v1/webhooks: subscriptions to event topics, and their deliveries."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Response

from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.keys import field_cipher
from shopdb.kit.parameters import PageQuery
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.models import WebhookDelivery
from shopdb.webhooks import service, signing
from shopdb.webhooks.auth import WebhooksRead, WebhooksWrite
from shopdb.webhooks.schemas import (
    AttemptRead,
    DeliveryRead,
    TopicRead,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)
from shopdb.webhooks.topics import TOPICS

router = domain_router("/webhooks", tags=["webhooks"])

DeliveryStatus = Literal["pending", "failed", "succeeded", "abandoned"]


def _delivery(delivery: WebhookDelivery) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        webhook_id=delivery.webhook_id,
        webhook_uid=signing.webhook_id(delivery.id, delivery.webhook_id, delivery.event_id),
        event_id=delivery.event_id,
        topic=delivery.topic,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at
        if delivery.status in ("pending", "failed")
        else None,
        last_attempt_at=delivery.last_attempt_at,
        delivered_at=delivery.delivered_at,
        response_status=delivery.response_status,
        duration_ms=delivery.duration_ms,
        last_error=delivery.last_error,
        triggered_at=delivery.created_at,
        attempt_log=[AttemptRead.model_validate(a) for a in delivery.attempt_log or []],
        payload=delivery.payload,
    )


@router.get("/topics", response_model=list[TopicRead])
async def list_webhook_topics(_subject: WebhooksRead) -> list[TopicRead]:
    """The topics a subscription may name: the events shopdb records."""
    return [TopicRead(topic=t, description=d) for t, d in TOPICS.items()]


@router.get("", response_model=Page[WebhookRead])
async def list_webhooks(
    _subject: WebhooksRead,
    session: SessionDep,
    page: PageQuery,
    topic: Annotated[str | None, Query(max_length=255)] = None,
) -> Page[WebhookRead]:
    """Oldest first; `page`/`pageSize`, or `cursor`; `withTotal=true` adds totalCount."""
    found = await service.list_webhooks(session, topic=topic, request=page)
    return Page[WebhookRead](
        items=[WebhookRead.model_validate(w) for w in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@router.post("", status_code=201, response_model=WebhookCreated)
async def create_webhook(
    body: WebhookCreate, subject: WebhooksWrite, session: SessionDep, services: ServicesDep
) -> WebhookCreated:
    """The answer carries `secret`, the key of X-Shopdb-Hmac-Sha256, this once only."""
    webhook, secret = await service.create_webhook(
        session,
        subject,
        field_cipher(services.settings),
        body.model_dump(by_alias=False),
        allow_private=services.settings.webhooks_allow_private,
    )
    read = WebhookRead.model_validate(webhook)
    return WebhookCreated(**read.model_dump(), secret=secret)


@router.get("/{webhook_id}", response_model=WebhookRead)
async def get_webhook(webhook_id: int, _subject: WebhooksRead, session: SessionDep) -> WebhookRead:
    return WebhookRead.model_validate(await service.get_webhook(session, webhook_id))


@router.put("/{webhook_id}", response_model=WebhookRead)
async def update_webhook(
    webhook_id: int,
    body: WebhookUpdate,
    subject: WebhooksWrite,
    session: SessionDep,
    services: ServicesDep,
) -> WebhookRead:
    webhook = await service.update_webhook(
        session,
        subject,
        webhook_id,
        body.model_dump(exclude_unset=True, by_alias=False),
        allow_private=services.settings.webhooks_allow_private,
    )
    return WebhookRead.model_validate(webhook)


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: int, subject: WebhooksWrite, session: SessionDep) -> Response:
    """Its deliveries go with it, sent or not."""
    await service.delete_webhook(session, subject, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryRead])
async def list_webhook_deliveries(
    webhook_id: int,
    _subject: WebhooksRead,
    session: SessionDep,
    page: PageQuery,
    status: DeliveryStatus | None = None,
) -> Page[DeliveryRead]:
    """Newest first: attempts, the last answer's status and duration, the next try."""
    found = await service.list_deliveries(session, webhook_id, status=status, request=page)
    return Page[DeliveryRead](
        items=[_delivery(d) for d in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@router.get("/{webhook_id}/deliveries/{delivery_id}", response_model=DeliveryRead)
async def get_webhook_delivery(
    webhook_id: int, delivery_id: int, _subject: WebhooksRead, session: SessionDep
) -> DeliveryRead:
    return _delivery(await service.get_delivery(session, webhook_id, delivery_id))


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryRead,
)
async def redeliver_webhook_delivery(
    webhook_id: int, delivery_id: int, subject: WebhooksWrite, session: SessionDep
) -> DeliveryRead:
    """Due now with a fresh retry schedule; 409 while a worker is sending it."""
    return _delivery(await service.redeliver(session, subject, webhook_id, delivery_id))

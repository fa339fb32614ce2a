"""Webhook subscriptions: create (the secret shown once), read, change, delete; and their
deliveries: list, redeliver. Services never commit.

Deliveries themselves are written by the database (a trigger on `events`, revision
0024_webhooks) in the transaction of each event, and sent by `shopdb worker`
(shopdb.webhooks.sender).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.models import Webhook, WebhookDelivery
from shopdb.webhooks import signing
from shopdb.webhooks.errors import (
    DeliveryInFlight,
    WebhookDeliveryNotFound,
    WebhookExists,
    WebhookInactive,
    WebhookNotFound,
)
from shopdb.webhooks.guard import check_address
from shopdb.webhooks.repository import DeliveryRepository, WebhookRepository

_NOT_NULL = ("topic", "address", "format", "active")


def _event(session: AsyncSession, actor: Subject, webhook: Webhook, verb: str, **body: Any) -> None:
    # Never the secret: events are read by anyone holding events:read.
    record_event(
        session,
        topic=f"webhooks/{verb}",
        subject_type="Webhook",
        subject_id=webhook.id,
        body={"id": webhook.id, "topic": webhook.topic, "address": webhook.address, **body},
        actor=actor.principal,
    )


async def get_webhook(session: AsyncSession, webhook_id: int) -> Webhook:
    webhook = await WebhookRepository(session).get(webhook_id)
    if webhook is None:
        raise WebhookNotFound(webhook_id)
    return webhook


async def list_webhooks(
    session: AsyncSession, *, topic: str | None, request: PageRequest
) -> RowsPage[Webhook]:
    return await WebhookRepository(session).page(topic=topic, request=request)


async def _check_unique(session: AsyncSession, webhook: Webhook, *, new: bool) -> None:
    with session.no_autoflush:
        taken = await WebhookRepository(session).taken(
            webhook.topic, webhook.address, except_id=None if new else webhook.id
        )
    if taken:
        raise WebhookExists(webhook.topic, webhook.address)


async def create_webhook(
    session: AsyncSession,
    actor: Subject,
    cipher: FieldCipher,
    fields: dict[str, Any],
    *,
    allow_private: bool,
) -> tuple[Webhook, str]:
    """The new subscription and its secret, which only this answer shows."""
    address = await check_address(fields["address"], allow_private=allow_private)
    secret = signing.new_secret()
    webhook = Webhook(
        topic=fields["topic"],
        address=address,
        format=fields.get("format") or "json",
        fields=fields.get("fields"),
        active=fields.get("active", True),
        secret=signing.seal(cipher, secret),
        consecutive_failures=0,
    )
    await _check_unique(session, webhook, new=True)
    await WebhookRepository(session).add(webhook)
    _event(session, actor, webhook, "create", active=webhook.active)
    return webhook, secret


async def update_webhook(
    session: AsyncSession,
    actor: Subject,
    webhook_id: int,
    changes: dict[str, Any],
    *,
    allow_private: bool,
) -> Webhook:
    webhook = await get_webhook(session, webhook_id)
    for name in _NOT_NULL:
        if name in changes and changes[name] is None:
            raise ValidationFailed.on(name, "must not be null")
    if "address" in changes:
        changes["address"] = await check_address(changes["address"], allow_private=allow_private)
    if changes.get("active") and not webhook.active:
        # Reactivated: the run of failures that deactivated it is over.
        webhook.consecutive_failures = 0
        webhook.deactivated_at = None
    for name, value in changes.items():
        setattr(webhook, name, value)
    await _check_unique(session, webhook, new=False)
    await session.flush()
    _event(session, actor, webhook, "update", changed=sorted(changes), active=webhook.active)
    return webhook


async def delete_webhook(session: AsyncSession, actor: Subject, webhook_id: int) -> None:
    webhook = await get_webhook(session, webhook_id)
    await WebhookRepository(session).delete(webhook.id)
    _event(session, actor, webhook, "delete")


async def list_deliveries(
    session: AsyncSession, webhook_id: int, *, status: str | None, request: PageRequest
) -> RowsPage[WebhookDelivery]:
    await get_webhook(session, webhook_id)
    return await DeliveryRepository(session).page(webhook_id, status=status, request=request)


async def get_delivery(session: AsyncSession, webhook_id: int, delivery_id: int) -> WebhookDelivery:
    delivery = await DeliveryRepository(session).get(webhook_id, delivery_id)
    if delivery is None:
        raise WebhookDeliveryNotFound(webhook_id, delivery_id)
    return delivery


async def redeliver(
    session: AsyncSession, actor: Subject, webhook_id: int, delivery_id: int
) -> WebhookDelivery:
    """Send the delivery again, now, with a fresh schedule of retries (whatever its status):
    the same body and X-Shopdb-Webhook-Id, so a receiver that keeps ids drops it."""
    webhook = await get_webhook(session, webhook_id)
    delivery = await get_delivery(session, webhook_id, delivery_id)
    if not webhook.active:
        raise WebhookInactive(webhook_id)
    if not await DeliveryRepository(session).redeliver(delivery.id):
        raise DeliveryInFlight(delivery.id)
    _event(session, actor, webhook, "redeliver", deliveryId=delivery.id)
    return await get_delivery(session, webhook_id, delivery_id)

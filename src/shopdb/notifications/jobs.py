"""The notification jobs: build the message (service.py), render it, send it, record how.

Each kind's handler reads in one session, closes it, then sends: a mail server that takes
its time holds no database connection. A send that fails raises, and the queue retries the
job with its backoff (shopdb.jobs.runner) up to the kind's max_attempts; a recipient the
server refuses for good (5xx) and a subject that no longer exists (a deleted order) fail the
job at once with the kind's message.

At least once: a worker that dies after the server took the message and before the job was
marked completed sends it again. The Message-ID is the same on every attempt of a job
(`<template>.<job id>@<sender's domain>`), so mail systems, and the file backend (one file
per Message-ID), keep one copy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.config import Settings
from shopdb.errors import ShopdbError
from shopdb.jobs.kinds import (
    CHECKOUTS_RECOVERY_EMAIL,
    GIFT_CARDS_ISSUED_EMAIL,
    ORDERS_CONFIRMATION_EMAIL,
    ORDERS_SHIPPING_CONFIRMATION_EMAIL,
    REFUNDS_NOTIFICATION_EMAIL,
    JobKind,
)
from shopdb.jobs.queue import PermanentJobError, RunningJob
from shopdb.jobs.runner import JobContext, Registration
from shopdb.keys import field_cipher
from shopdb.kit.crypto import FieldCipher
from shopdb.notifications import service
from shopdb.notifications.errors import DeliveryRefused
from shopdb.notifications.mail import mailer_from_settings
from shopdb.notifications.rendering import build_email, render, render_sms
from shopdb.notifications.sms import SmsMessage, sms_from_settings
from shopdb.privacy.rules import is_placeholder

log = structlog.get_logger(__name__)

Builder = Callable[
    [AsyncSession, FieldCipher, Settings, dict[str, Any]],
    Awaitable[service.Notification | service.Skipped],
]


@asynccontextmanager
async def _read_session(context: JobContext) -> AsyncIterator[AsyncSession]:
    """A session for the builder's reads, closed without a commit: builders only read. On
    PostgreSQL the reads that can run in autocommit do (the order's document: no BEGIN and
    COMMIT round trips); on SQLite the transaction is a deferred one, which takes no write
    lock from the API."""
    async with context.database.sessionmaker() as session:
        if context.database.primary.dialect.name == "sqlite":
            await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        yield session


async def send_notification(
    context: JobContext, job: RunningJob, kind: JobKind, build: Builder
) -> Mapping[str, Any]:
    settings = context.settings
    cipher = field_cipher(settings)
    try:
        async with _read_session(context) as session:
            found = await build(session, cipher, settings, job.payload)
    except ShopdbError as exc:
        if exc.status_code == 404:
            # Deleted since the job was queued: no retry will bring it back.
            raise PermanentJobError(kind.failure_message) from exc
        raise
    if isinstance(found, service.Skipped):
        log.info("notification_skipped", job_id=job.id, kind=job.kind, reason=found.reason)
        return {"sent": False, "skipped": found.reason}
    if is_placeholder(found.to):
        # Queued before the recipient's personal data was erased (shopdb.privacy).
        log.info("notification_skipped", job_id=job.id, kind=job.kind, reason="redacted")
        return {"sent": False, "skipped": "recipient redacted"}
    rendered = render(found.name, found.context)
    key = f"{found.name}.{job.id}"
    message = build_email(rendered, to=found.to, sender=settings.email_from, key=key)
    try:
        await mailer_from_settings(settings).send(message)
    except DeliveryRefused as exc:
        raise PermanentJobError(kind.failure_message) from exc
    result: dict[str, Any] = {"sent": True, "template": found.name}
    if found.sms_to:
        text = render_sms(found.name, found.context)
        await sms_from_settings(settings).send(SmsMessage(found.sms_to, text, key))
        result["sms"] = True
    return result


def _registration(kind: JobKind, build: Builder) -> Registration:
    async def run(context: JobContext, job: RunningJob) -> Mapping[str, Any] | None:
        return await send_notification(context, job, kind, build)

    return Registration(kind, run)


ORDER_CONFIRMATION = _registration(ORDERS_CONFIRMATION_EMAIL, service.order_confirmation)
SHIPPING_CONFIRMATION = _registration(
    ORDERS_SHIPPING_CONFIRMATION_EMAIL, service.shipping_confirmation
)
REFUND_NOTIFICATION = _registration(REFUNDS_NOTIFICATION_EMAIL, service.refund_notification)
CHECKOUT_RECOVERY = _registration(CHECKOUTS_RECOVERY_EMAIL, service.checkout_recovery)
GIFT_CARD_ISSUED = _registration(GIFT_CARDS_ISSUED_EMAIL, service.gift_card_issued)

REGISTRATIONS = [
    ORDER_CONFIRMATION,
    SHIPPING_CONFIRMATION,
    REFUND_NOTIFICATION,
    CHECKOUT_RECOVERY,
    GIFT_CARD_ISSUED,
]

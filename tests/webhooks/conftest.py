"""Webhook tests: the application over the test's rolled-back database, a caller holding the
webhook permissions, a local receiver, and a sender whose schedule runs in milliseconds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.keys import field_cipher
from shopdb.models import Webhook, WebhookDelivery
from shopdb.webhooks.sender import SenderOptions, WebhookSender
from tests.auth.helpers import shared_app
from tests.fixtures.catalog import Headers, TokenFactory
from tests.fixtures.database import Backend
from tests.webhooks.receiver import Receiver

WEBHOOKS = "/api/v1/webhooks"

# The default schedule's shape (retries, backoff, deactivation), in milliseconds.
FAST = SenderOptions(
    timeout_seconds=2.0,
    retries=8,
    retry_base_seconds=0.0,
    retry_max_seconds=0.0,
    failures_before_deactivation=8,
    lease_seconds=30.0,
    poll_seconds=0.02,
    # One at a time: the test's sessions share one connection (RollbackDatabase).
    concurrency=1,
    per_subscription=1,
    allow_private=True,
)


@pytest.fixture
def app(backend: Backend, database: Database) -> FastAPI:
    return shared_app(backend.name, backend.settings, database)


@pytest.fixture
def headers(token_for: TokenFactory) -> Headers:
    return token_for("webhooks:read", "webhooks:write", "products:read", "products:write")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


def make_sender(
    backend: Backend, database: Database, *, name: str | None = None, **options: Any
) -> WebhookSender:
    return WebhookSender(database, field_cipher(backend.settings), _options(**options), name=name)


def _options(**options: Any) -> SenderOptions:
    from dataclasses import replace

    return replace(FAST, **options)


async def subscribe(
    client: httpx.AsyncClient,
    headers: Headers,
    receiver: Receiver,
    path: str,
    topic: str = "products/create",
    **fields: Any,
) -> dict[str, Any]:
    """A subscription to `topic` posting to the receiver's `path`, whose secret it learns."""
    response = await client.post(
        WEBHOOKS,
        json={"topic": topic, "address": receiver.url(path), **fields},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    receiver.secrets[path] = created["secret"]
    return created


async def deliveries(session: AsyncSession, webhook_id: int | None = None) -> list[WebhookDelivery]:
    statement = select(WebhookDelivery).order_by(WebhookDelivery.id)
    if webhook_id is not None:
        statement = statement.where(WebhookDelivery.webhook_id == webhook_id)
    return list((await session.scalars(statement.execution_options(populate_existing=True))).all())


async def webhook_row(session: AsyncSession, webhook_id: int) -> Webhook:
    found = await session.scalar(
        select(Webhook).where(Webhook.id == webhook_id).execution_options(populate_existing=True)
    )
    assert found is not None
    return found

"""The event log, webhook subscriptions and their delivery outbox, and idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shopdb.kit.models import Base, CreatedAtMixin, IdMixin, TimestampMixin
from shopdb.kit.types import BigIntId, JSONType, UTCDateTime


class Event(IdMixin, CreatedAtMixin, Base):
    """An audit record, written in the same transaction as the change it describes."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_topic", "topic"),
        Index("ix_events_verb", "verb"),
        Index("ix_events_created_at", "created_at"),
        # GET /api/v1/events reads newest first: each filter's (filter..., id) index walked
        # backwards serves a page at any depth (migration 0026; the seed's three stay).
        Index("ix_events_topic_id", "topic", "id"),
        Index("ix_events_verb_id", "verb", "id"),
        Index("ix_events_subject_type_subject_id_id", "subject_type", "subject_id", "id"),
    )

    topic: Mapped[str] = mapped_column(String(255), nullable=False)
    verb: Mapped[str] = mapped_column(String(50), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    body: Mapped[Any] = mapped_column(JSONType, nullable=True)
    # Not in the seed: who acted, and the subject as a (type, id) pair that can be queried.
    actor: Mapped[str | None] = mapped_column(String(255))
    subject_type: Mapped[str | None] = mapped_column(String(100))
    subject_id: Mapped[int | None] = mapped_column(sa.BigInteger)


class Webhook(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhooks"
    __table_args__ = (
        CheckConstraint("format IN ('json', 'xml')", name="format"),
        Index("ix_webhooks_topic", "topic"),
        Index("ix_webhooks_active", "active"),
    )

    topic: Mapped[str] = mapped_column(String(255), nullable=False)
    address: Mapped[str] = mapped_column(String(500), nullable=False)
    format: Mapped[str] = mapped_column(
        String(50), nullable=False, default="json", server_default="json"
    )
    active: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=True, server_default=sa.true()
    )
    # Not in the seed: Shopify's `fields` filter and the per-subscription signing secret,
    # sealed with the PII keys (shopdb.webhooks.signing): a database dump cannot sign.
    fields: Mapped[list[Any] | None] = mapped_column(JSONType)
    secret: Mapped[str | None] = mapped_column(String(255))
    # Deliveries that died (retries exhausted) in a row; a success resets it. At the
    # configured run the subscription is deactivated (shopdb.webhooks.sender).
    consecutive_failures: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


TO_SEND = sa.text("status IN ('pending', 'failed')")


class WebhookDelivery(IdMixin, CreatedAtMixin, Base):
    """The outbox: one row per (event, subscription), sent by the worker after commit.

    Rows are written by a trigger on `events` (revision 0024_webhooks), in the transaction
    that records the event; `created_at` is the event's. `status`: pending (not tried yet, or
    redelivery asked), failed (the last attempt failed, another is due at next_attempt_at),
    succeeded, abandoned (the retries ran out). A worker sending it holds the lease
    (`locked_by` until `locked_until`); a lapsed lease makes it due again.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'abandoned')", name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        # The deliveries still to send, by due time (SQLite's claim, the any-due probe).
        # Partial, as the one below: a delivered row leaves both, so the outbox's indexes stay
        # the size of its backlog. A subscription's own rows are found through the unique
        # (webhook_id, event_id) index.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=TO_SEND,
            sqlite_where=TO_SEND,
        ),
        Index("ix_webhook_deliveries_event_id", "event_id"),
        Index("ux_webhook_deliveries_webhook_id_event_id", "webhook_id", "event_id", unique=True),
        # The sender's claim: each subscription's deliveries still to send, oldest due first.
        Index(
            "ix_webhook_deliveries_to_send",
            "webhook_id",
            "next_attempt_at",
            "id",
            postgresql_where=TO_SEND,
            sqlite_where=TO_SEND,
        ),
    )

    webhook_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("events.id", ondelete="SET NULL")
    )
    topic: Mapped[str] = mapped_column(String(255), nullable=False)
    payload: Mapped[Any] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, default="pending", server_default="pending"
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Not in the seed: the sender's lease, the last attempt's duration, and the latest
    # attempts ({attempt, at, durationMs, status, error}), for GET .../deliveries.
    locked_by: Mapped[str | None] = mapped_column(String(200))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    attempt_log: Mapped[list[Any] | None] = mapped_column(JSONType)


class IdempotencyKey(IdMixin, CreatedAtMixin, Base):
    """A replayable response for a retried POST carrying the same Idempotency-Key."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("principal", "key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    principal: Mapped[str] = mapped_column(String(255), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    path: Mapped[str] = mapped_column(String(2048), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[Any] = mapped_column(JSONType, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

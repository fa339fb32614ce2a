"""Recording what happened, in the same transaction as the change.

Topics follow Shopify's `resource/event` names (`products/create`, `inventory_levels/update`);
the verb is the event (`create`, `update`, `delete`, `read`...). A rolled-back change leaves no
event, and a committed one always has its event: webhooks are later fanned out from these rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import ValidationFailed
from shopdb.events.errors import EventNotFound
from shopdb.events.repository import EventFilters, EventRepository
from shopdb.kit.bounds import MAX_BIGINT
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.models import Event

# `Order 42`, as record_event writes it: a type name, one space, a positive id.
_SUBJECT = re.compile(r"([A-Za-z][A-Za-z0-9_]*) ([0-9]{1,19})")


def record_event(
    session: AsyncSession,
    *,
    topic: str,
    subject_type: str,
    subject_id: int,
    body: Any = None,
    actor: str | None = None,
    verb: str | None = None,
) -> Event:
    """Add an event row to the session. `subject` reads `Product 42`; `verb` defaults from topic."""
    return EventRepository(session).add(
        new_event(
            topic=topic,
            subject_type=subject_type,
            subject_id=subject_id,
            body=body,
            actor=actor,
            verb=verb,
        )
    )


def new_event(
    *,
    topic: str,
    subject_type: str,
    subject_id: int,
    body: Any = None,
    actor: str | None = None,
    verb: str | None = None,
) -> Event:
    """An event row as record_event writes it, not yet in any session: for a caller that
    writes it with other rows in one statement (kit.models.write_rows)."""
    return Event(
        topic=topic,
        verb=verb or topic.rsplit("/", 1)[-1],
        subject=f"{subject_type} {subject_id}",
        subject_type=subject_type,
        subject_id=subject_id,
        body=body,
        actor=actor,
    )


@dataclass(frozen=True)
class EventQuery:
    topic: str | None = None
    verb: str | None = None
    # `Order 42` (one subject) or `Order` (every order's events, Shopify's `filter=Order`).
    subject: str | None = None
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None


def _in_utc(field: str, value: datetime | None) -> datetime | None:
    # A timestamp at the calendar's edge with an offset (9999-12-31T23:59-23:00) has no UTC
    # equivalent: the caller's mistake, not a server error.
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValidationFailed.on(field, "is out of range once converted to UTC") from exc


def _subject_filter(subject: str | None) -> tuple[str | None, int | None]:
    if subject is None:
        return None, None
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", subject):
        return subject, None
    found = _SUBJECT.fullmatch(subject)
    if found is None or int(found[2]) > MAX_BIGINT:
        raise ValidationFailed.on(
            "subject", "is a subject type and id (`Order 42`) or a subject type (`Order`)"
        )
    return found[1], int(found[2])


async def list_events(
    session: AsyncSession, query: EventQuery, request: PageRequest
) -> RowsPage[Event]:
    """The events matching every given filter, newest first."""
    created_at_min = _in_utc("createdAtMin", query.created_at_min)
    created_at_max = _in_utc("createdAtMax", query.created_at_max)
    if (
        created_at_min is not None
        and created_at_max is not None
        and created_at_min > created_at_max
    ):
        raise ValidationFailed.on("createdAtMin", "is after createdAtMax")
    subject_type, subject_id = _subject_filter(query.subject)
    filters = EventFilters(
        topic=query.topic,
        verb=query.verb,
        subject_type=subject_type,
        subject_id=subject_id,
        created_at_min=created_at_min,
        created_at_max=created_at_max,
    )
    return await EventRepository(session).page(filters, request)


async def get_event(session: AsyncSession, event_id: int) -> Event:
    event = await EventRepository(session).get(event_id)
    if event is None:
        raise EventNotFound(event_id)
    return event

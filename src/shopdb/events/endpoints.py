"""GET /api/v1/events and /api/v1/events/{id}: the event log, read-only (`events:read`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AwareDatetime

from shopdb.dependencies import SessionDep
from shopdb.events import service
from shopdb.events.auth import EventsRead
from shopdb.events.schemas import EventRead
from shopdb.kit.parameters import PageQuery
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page

router = domain_router("/events", tags=["events"])

Text = Annotated[str | None, Query(min_length=1, max_length=255)]


@router.get("", response_model=Page[EventRead])
async def list_events(
    _subject: EventsRead,
    session: SessionDep,
    page: PageQuery,
    topic: Text = None,
    verb: Text = None,
    subject: Text = None,
    created_at_min: Annotated[AwareDatetime | None, Query(alias="createdAtMin")] = None,
    created_at_max: Annotated[AwareDatetime | None, Query(alias="createdAtMax")] = None,
) -> Page[EventRead]:
    """Newest first. `subject` is `Order 42` (one record's events) or `Order` (a type's);
    `createdAtMin`/`createdAtMax` are inclusive and need a timezone."""
    query = service.EventQuery(
        topic=topic,
        verb=verb,
        subject=subject,
        created_at_min=created_at_min,
        created_at_max=created_at_max,
    )
    found = await service.list_events(session, query, page)
    return Page[EventRead](
        items=[EventRead.model_validate(event) for event in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@router.get("/{event_id}", response_model=EventRead)
async def get_event(event_id: int, _subject: EventsRead, session: SessionDep) -> EventRead:
    return EventRead.model_validate(await service.get_event(session, event_id))

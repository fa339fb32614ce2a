"""Writes and reads of the event log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.pagination import PageRequest, RowsPage, read_requested_page
from shopdb.models import Event


@dataclass(frozen=True)
class EventFilters:
    topic: str | None = None
    verb: str | None = None
    subject_type: str | None = None
    subject_id: int | None = None
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, event: Event) -> Event:
        # No flush: the row goes out with the caller's next flush or the commit, in its transaction.
        self.session.add(event)
        return event

    async def get(self, event_id: int) -> Event | None:
        return await self.session.get(Event, event_id)

    def filtered(self, filters: EventFilters) -> Select[Event]:
        """The events matching every given filter, unordered."""
        conditions = []
        for column, value in (
            (Event.topic, filters.topic),
            (Event.verb, filters.verb),
            (Event.subject_type, filters.subject_type),
            (Event.subject_id, filters.subject_id),
        ):
            if value is not None:
                conditions.append(column == value)
        if filters.created_at_min is not None:
            conditions.append(Event.created_at >= filters.created_at_min)
        if filters.created_at_max is not None:
            conditions.append(Event.created_at <= filters.created_at_max)
        return select(Event).where(*conditions)

    async def page(self, filters: EventFilters, request: PageRequest) -> RowsPage[Event]:
        """Newest first (id descending). An equality filter walks its own (filter..., id)
        index backwards (migration 0026), or the primary key with the filter checked per row
        when it matches a large share; dates walk the primary key, or the created_at index
        for a narrow range: never the whole table."""
        return await read_requested_page(
            self.session,
            self.filtered(filters),
            request,
            sort_column=Event.id,
            id_column=Event.id,
            direction="desc",
        )

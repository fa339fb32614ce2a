"""Writes and reads of the event log."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, event: Event) -> Event:
        # No flush: the row goes out with the caller's next flush or the commit, in its transaction.
        self.session.add(event)
        return event

"""The event log's typed errors."""

from __future__ import annotations

from shopdb.errors import NotFound


class EventNotFound(NotFound):
    def __init__(self, event_id: int) -> None:
        super().__init__(f"Event {event_id} not found")

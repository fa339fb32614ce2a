"""Recording what happened, in the same transaction as the change.

Topics follow Shopify's `resource/event` names (`products/create`, `inventory_levels/update`);
the verb is the event (`create`, `update`, `delete`, `read`...). A rolled-back change leaves no
event, and a committed one always has its event: webhooks are later fanned out from these rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.events.repository import EventRepository
from shopdb.models import Event


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
        Event(
            topic=topic,
            verb=verb or topic.rsplit("/", 1)[-1],
            subject=f"{subject_type} {subject_id}",
            subject_type=subject_type,
            subject_id=subject_id,
            body=body,
            actor=actor,
        )
    )

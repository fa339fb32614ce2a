"""Which locations a flush changed, noted in the change journal (shopdb.kit.journal).

The location cache (Services.location_cache) forgets them after the commit. Every write of a
location goes through the ORM (inventory/locations.py, the demo seed); this listener sees them
all without their writers' cooperation. A creation, a deletion or a change of `active` (the
lists' one filter) may move any list page; other edits only the location's own document.
"""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.orm import Session, UOWTransaction

from shopdb.kit import journal
from shopdb.models import Location


def note_flushed_locations(session: Session, _flush: UOWTransaction) -> None:
    """An "after_flush" listener: the locations of the flush, and whether lists move."""
    found: list[int | None] = []
    membership = False
    for rows, new_or_deleted in (
        (session.new, True),
        (session.dirty, False),
        (session.deleted, True),
    ):
        for row in rows:
            if not isinstance(row, Location):
                continue
            found.append(row.__dict__.get("id"))
            membership = (
                membership or new_or_deleted or inspect(row).attrs["active"].history.has_changes()
            )
    if found:
        journal.note(session, journal.LOCATION, found, membership=membership)

"""An event as GET /api/v1/events answers it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shopdb.kit.schemas import CamelModel


class EventRead(CamelModel):
    id: int
    topic: str
    verb: str
    # `Order 42`: the subject's type and id, also given apart.
    subject: str
    subject_type: str | None
    subject_id: int | None
    # `user:7`, `api_key:3`, `worker`...: who acted, when known.
    actor: str | None
    body: Any = None
    created_at: datetime

"""Who may read the event log."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

EventsRead = Annotated[Subject, Depends(Authenticator({"events:read"}))]

"""Who may manage staff users, their permissions and API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

UsersAdmin = Annotated[Subject, Depends(Authenticator({"users:admin"}))]

"""Tax rates are shop settings: settings:read to see them, settings:write to change them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

SettingsRead = Annotated[Subject, Depends(Authenticator({"settings:read"}))]
SettingsWrite = Annotated[Subject, Depends(Authenticator({"settings:write"}))]

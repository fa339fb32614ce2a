from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

InventoryRead = Annotated[Subject, Depends(Authenticator({"inventory:read"}))]
InventoryWrite = Annotated[Subject, Depends(Authenticator({"inventory:write"}))]

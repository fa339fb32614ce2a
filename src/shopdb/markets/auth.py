"""markets:read to see markets and currency settings, markets:write to change them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

MarketsRead = Annotated[Subject, Depends(Authenticator({"markets:read"}))]
MarketsWrite = Annotated[Subject, Depends(Authenticator({"markets:write"}))]

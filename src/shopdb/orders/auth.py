from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

OrdersRead = Annotated[Subject, Depends(Authenticator({"orders:read"}))]
OrdersWrite = Annotated[Subject, Depends(Authenticator({"orders:write"}))]

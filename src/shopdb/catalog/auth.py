from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

ProductsRead = Annotated[Subject, Depends(Authenticator({"products:read"}))]
ProductsWrite = Annotated[Subject, Depends(Authenticator({"products:write"}))]
ProductsDelete = Annotated[Subject, Depends(Authenticator({"products:delete"}))]

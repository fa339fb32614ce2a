from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

MetafieldsRead = Annotated[Subject, Depends(Authenticator({"metafields:read"}))]
MetafieldsWrite = Annotated[Subject, Depends(Authenticator({"metafields:write"}))]

"""selling_plans:read to see selling plan groups and subscription contracts, selling_plans:write
to change them (plans, their products, a contract's status or payment method)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

SellingPlansRead = Annotated[Subject, Depends(Authenticator({"selling_plans:read"}))]
SellingPlansWrite = Annotated[Subject, Depends(Authenticator({"selling_plans:write"}))]

"""companies:read to see companies, their payment terms, balances and terms orders;
companies:write to change companies and payment terms. Placing an order on terms is
orders:write (the orders domain's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

CompaniesRead = Annotated[Subject, Depends(Authenticator({"companies:read"}))]
CompaniesWrite = Annotated[Subject, Depends(Authenticator({"companies:write"}))]
# A change answered with the resource: write access alone is not a way to read.
CompaniesReadWrite = Annotated[
    Subject, Depends(Authenticator({"companies:read", "companies:write"}))
]

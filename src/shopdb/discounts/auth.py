"""discounts:read to see discount codes and gift cards, discounts:write to change them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

DiscountsRead = Annotated[Subject, Depends(Authenticator({"discounts:read"}))]
DiscountsWrite = Annotated[Subject, Depends(Authenticator({"discounts:write"}))]
# A change answered with the resource: write access alone is not a way to read.
DiscountsReadWrite = Annotated[
    Subject, Depends(Authenticator({"discounts:read", "discounts:write"}))
]

"""shipping:read to see zones and rates, shipping:write to change them. A quote is also open to
whoever may place orders (orders:write): checkout asks for one before it picks a rate."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject
from shopdb.errors import Forbidden

ShippingRead = Annotated[Subject, Depends(Authenticator({"shipping:read"}))]
ShippingWrite = Annotated[Subject, Depends(Authenticator({"shipping:write"}))]

QUOTE_PERMISSIONS = ("shipping:read", "orders:write")


async def _may_quote(subject: Annotated[Subject, Depends(Authenticator())]) -> Subject:
    if not any(subject.can(permission) for permission in QUOTE_PERMISSIONS):
        raise Forbidden(
            "Missing permission: shipping:read or orders:write",
            [{"field": "permissions", "message": "requires shipping:read or orders:write"}],
        )
    return subject


ShippingQuoter = Annotated[Subject, Depends(_may_quote)]

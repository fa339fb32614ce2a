"""The seed's "CustomerData" policy: customers:read to see customers, customers:write to change
them. A change that answers with the customer's personal data needs both, so write access
alone is never a way to read emails and phones.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

CustomersRead = Annotated[Subject, Depends(Authenticator({"customers:read"}))]
CustomersWrite = Annotated[Subject, Depends(Authenticator({"customers:write"}))]
CustomersReadWrite = Annotated[
    Subject, Depends(Authenticator({"customers:read", "customers:write"}))
]

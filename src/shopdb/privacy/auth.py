"""Who may make a privacy request.

- The data export holds all of a customer's personal data and its orders: it needs
  customers:read and orders:read, the two permissions that read them one by one.
- Redaction is irreversible and is its own permission, customers:redact: a caller that may
  change customers (customers:write, a CRM sync say) cannot erase them by mistake.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

DataRequester = Annotated[Subject, Depends(Authenticator({"customers:read", "orders:read"}))]
Redactor = Annotated[Subject, Depends(Authenticator({"customers:redact"}))]

"""compliance:read to see compliance records and retention policies, compliance:write to
change them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

ComplianceRead = Annotated[Subject, Depends(Authenticator({"compliance:read"}))]
ComplianceWrite = Annotated[Subject, Depends(Authenticator({"compliance:write"}))]

"""POST /api/v1/customers/{id}/data-request and POST /api/v1/customers/{id}/redact."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response

from shopdb.dependencies import SessionDep
from shopdb.idempotency.routes import idempotent
from shopdb.keys import field_cipher
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.privacy import service
from shopdb.privacy.auth import DataRequester, Redactor
from shopdb.privacy.schemas import DataExport, RedactionRead
from shopdb.services import services_of

router = domain_router("/customers", tags=["privacy"])


def _cipher(request: Request) -> FieldCipher:
    return field_cipher(services_of(request.app).settings)


CipherDep = Annotated[FieldCipher, Depends(_cipher)]


# Not @idempotent: a stored response would be one more copy of the personal data it holds, and
# asking twice is harmless (two exports, two events).
@router.post("/{customer_id}/data-request", response_model=DataExport)
async def request_customer_data(
    customer_id: int,
    request: Request,
    subject: DataRequester,
    session: SessionDep,
    cipher: CipherDep,
) -> Response:
    """Everything held about the customer, personal data decrypted (Shopify's
    customers/data_request); records `customers/data_request` for subscribed webhooks."""
    export = await service.export_customer_data(
        session, cipher, subject, customer_id, via=f"{request.method} {request.url.path}"
    )
    return model_response(export, headers={"Cache-Control": "no-store"})


@router.post("/{customer_id}/redact", response_model=RedactionRead)
@idempotent
async def redact_customer(
    customer_id: int, subject: Redactor, session: SessionDep, cipher: CipherDep
) -> Response:
    """Erase the customer's personal data everywhere it is held; orders keep their amounts
    (Shopify's customers/redact). Idempotent: a second call changes nothing."""
    redaction = await service.redact_customer(session, cipher, subject, customer_id)
    return model_response(redaction)

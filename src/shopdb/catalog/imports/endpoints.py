"""/api/v1/products/import (CSV in, a pollable job out) and /api/v1/products/export.csv."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import File, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from shopdb.catalog.auth import ProductsRead, ProductsWrite
from shopdb.catalog.imports import jobs
from shopdb.catalog.imports.exporter import export_csv
from shopdb.catalog.imports.schemas import ImportJobOut, job_out
from shopdb.catalog.imports.service import default_location
from shopdb.dependencies import SessionDep
from shopdb.errors import ValidationFailed
from shopdb.idempotency import idempotent
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.replicas import read_after
from shopdb.services import services_of

router = domain_router("/products", tags=["products import/export"])


@router.get("/export.csv", response_class=StreamingResponse)
async def export_products(
    request: Request,
    session: SessionDep,
    _: ProductsRead,
    location_id: Annotated[int | None, Query(alias="locationId", ge=1)] = None,
) -> StreamingResponse:
    """Every product in Shopify's product CSV format, streamed (import reads it back).

    `Variant Inventory Qty` is `available` at one location: `locationId`, else the first
    active location, as the import reads it.
    """
    database = services_of(request.app).database
    # Resolved before the body starts, so an unknown or deactivated location is a clean 4xx.
    location = await default_location(session, location_id)
    # A replica when one is usable and has replayed the client's last write (replicas.py).
    reads = database.read_sessionmaker(read_after(request.headers, request.cookies))

    async def stream() -> AsyncIterator[str]:
        # Its own session: the request's is committed and closed before the body streams.
        async with reads() as read_session:
            async for chunk in export_csv(read_session, location_id=location):
                yield chunk

    return StreamingResponse(
        stream(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="products_export.csv"'},
    )


@router.post("/import", status_code=200, response_model=ImportJobOut)
@idempotent
async def import_products(
    request: Request,
    session: SessionDep,
    subject: ProductsWrite,
    file: Annotated[UploadFile, File(description="Shopify product CSV (UTF-8)")],
    location_id: Annotated[int | None, Query(alias="locationId", ge=1)] = None,
) -> Response:
    """Small files are imported before answering (200); large ones become a queued job (202).

    Either way the answer is the job: poll GET /api/v1/products/import/{id} for progress and
    the per-line report. A queued job is written in this request's transaction, so it exists
    exactly when the answer is a 202; `shopdb worker` imports it.
    """
    raw = await file.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed.on("file", "is not UTF-8 text") from exc
    products = jobs.parse_or_400(text)
    services = services_of(request.app)
    job, queued = await jobs.start_import(
        session,
        services.storage,
        raw,
        products,
        location_id=location_id,
        actor=subject.principal,
        inline_limit=services.settings.import_inline_max_products,
    )
    return model_response(
        job_out(job),
        status_code=202 if queued else 200,
        headers={"Location": f"/api/v1/products/import/{job.id}"},
    )


@router.get("/import/{job_id}", response_model=ImportJobOut)
async def get_import(session: SessionDep, _: ProductsRead, job_id: int) -> ImportJobOut:
    return job_out(await jobs.get_job(session, job_id))

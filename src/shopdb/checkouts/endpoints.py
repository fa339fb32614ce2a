"""/api/v1/checkouts and /api/v1/abandoned-checkouts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response

from shopdb.checkouts import abandonment, service
from shopdb.checkouts.completion import complete_checkout
from shopdb.checkouts.schemas import (
    AbandonedCheckoutRead,
    AbandonedStatus,
    CheckoutComplete,
    CheckoutCreate,
    CheckoutRead,
    CheckoutUpdate,
)
from shopdb.checkouts.settings import CheckoutSettings
from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.idempotency import idempotent
from shopdb.keys import field_cipher
from shopdb.kit.etags import etag
from shopdb.kit.parameters import IfMatch, PageQuery
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.kit.types import UTCTimestamp
from shopdb.orders.auth import OrdersRead, OrdersWrite
from shopdb.orders.gates import placed_response, placement_for, placement_gate
from shopdb.orders.keyed import request_token
from shopdb.orders.schemas import OrderDetail


def checkout_settings(services: ServicesDep) -> CheckoutSettings:
    return CheckoutSettings.from_settings(services.settings)


ConfigDep = Annotated[CheckoutSettings, Depends(checkout_settings)]

checkouts_router = domain_router("/checkouts", tags=["checkouts"])
abandoned_router = domain_router("/abandoned-checkouts", tags=["checkouts"])


@checkouts_router.post("", status_code=201, response_model=CheckoutRead)
async def create_checkout(
    session: SessionDep,
    subject: OrdersWrite,
    services: ServicesDep,
    config: ConfigDep,
    data: CheckoutCreate,
) -> Response:
    """A checkout priced like an order (nothing reserved or used until it is completed).
    Its `token` names it from now on; its ETag guards updates."""
    settings = services.settings
    cipher = field_cipher(settings)
    checkout = await service.create_checkout(
        session,
        cipher,
        config,
        data,
        currency=settings.order_currency,
        actor=subject.principal,
    )
    return model_response(
        service.checkout_read(cipher, config, checkout),
        status_code=201,
        headers={
            "Location": f"/api/v1/checkouts/{checkout.token}",
            "ETag": etag(checkout.version),
        },
    )


@checkouts_router.get("/{token}", response_model=CheckoutRead)
async def get_checkout(
    session: SessionDep, _: OrdersRead, services: ServicesDep, config: ConfigDep, token: str
) -> Response:
    checkout = await service.load_checkout(session, token)
    return model_response(
        service.checkout_read(field_cipher(services.settings), config, checkout),
        headers={"ETag": etag(checkout.version)},
    )


@checkouts_router.put("/{token}", response_model=CheckoutRead)
async def update_checkout(
    session: SessionDep,
    subject: OrdersWrite,
    services: ServicesDep,
    config: ConfigDep,
    token: str,
    data: CheckoutUpdate,
    if_match: IfMatch = None,
) -> Response:
    """Change the fields sent and reprice. `If-Match` (the ETag last read) makes a stale
    update a 412; a completed checkout is 409 CHECKOUT_COMPLETED."""
    settings = services.settings
    cipher = field_cipher(settings)
    checkout = await service.update_checkout(
        session,
        cipher,
        config,
        token,
        data,
        if_match=if_match,
        currency=settings.order_currency,
        actor=subject.principal,
    )
    return model_response(
        service.checkout_read(cipher, config, checkout), headers={"ETag": etag(checkout.version)}
    )


@checkouts_router.post("/{token}/complete", status_code=201, response_model=OrderDetail)
@idempotent(gate=placement_gate)
async def complete(
    request: Request,
    session: SessionDep,
    subject: OrdersWrite,
    services: ServicesDep,
    token: str,
    data: CheckoutComplete,
) -> Response:
    """Turn the checkout into an order, exactly as POST /api/v1/orders places one; 201 with
    the order. Completed already: 409 CHECKOUT_COMPLETED (a retry with the same
    Idempotency-Key gets the first response again)."""
    placement = await placement_for(request, session, services, subject.principal)
    placed = await complete_checkout(
        placement, token, data, idempotency_token=request_token(request, subject.principal)
    )
    return placed_response(placed)


@abandoned_router.get("", response_model=Page[AbandonedCheckoutRead])
async def list_abandoned_checkouts(
    session: SessionDep,
    _: OrdersRead,
    services: ServicesDep,
    page: PageQuery,
    status: AbandonedStatus = "any",
    created_at_min: Annotated[UTCTimestamp | None, Query(alias="createdAtMin")] = None,
    created_at_max: Annotated[UTCTimestamp | None, Query(alias="createdAtMax")] = None,
    updated_at_min: Annotated[UTCTimestamp | None, Query(alias="updatedAtMin")] = None,
    updated_at_max: Annotated[UTCTimestamp | None, Query(alias="updatedAtMax")] = None,
) -> Page[AbandonedCheckoutRead]:
    """Abandoned checkouts by id, each with its `recoveryUrl`; `status` open (not completed
    since) or recovered. Page by `page` or by `cursor`; `totalCount` only with withTotal."""
    query = abandonment.AbandonedQuery(
        status=status,
        created_at_min=created_at_min,
        created_at_max=created_at_max,
        updated_at_min=updated_at_min,
        updated_at_max=updated_at_max,
    )
    found = await abandonment.list_abandoned(session, field_cipher(services.settings), query, page)
    return Page[AbandonedCheckoutRead](
        items=found.rows,
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


# Mounted as one router in shopdb.api.
router = domain_router("", tags=["checkouts"])
router.include_router(checkouts_router)
router.include_router(abandoned_router)

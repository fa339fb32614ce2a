"""POST /api/v1/auth/token and /.well-known/jwks.json (both public); /api/v1/api-keys (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from shopdb.auth import service
from shopdb.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    TokenRequest,
    TokenResponse,
)
from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.kit.parameters import PageQuery
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.ratelimit import client_address
from shopdb.users.auth import UsersAdmin

router = domain_router("/auth", tags=["auth"])
api_keys_router = domain_router("/api-keys", tags=["api-keys"])
jwks_router = APIRouter(tags=["auth"])


@router.post("/token", response_model=TokenResponse)
async def create_token(
    body: TokenRequest, request: Request, session: SessionDep, services: ServicesDep
) -> TokenResponse:
    issued = await service.login(
        session,
        services.tokens,
        body.email,
        body.password,
        throttle=services.login_throttle,
        address=client_address(request.scope),
    )
    return TokenResponse(access_token=issued.token, expires_in=issued.expires_in)


@jwks_router.get("/.well-known/jwks.json")
async def jwks(services: ServicesDep) -> dict[str, Any]:
    return services.tokens.jwks()


@api_keys_router.post("", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(
    body: ApiKeyCreate, subject: UsersAdmin, session: SessionDep
) -> ApiKeyCreated:
    key, secret = await service.create_api_key(
        session, subject, name=body.name, scopes=body.scopes, expires_at=body.expires_at
    )
    return ApiKeyCreated.model_validate(
        {**ApiKeyRead.model_validate(key).model_dump(), "key": secret}
    )


@api_keys_router.get("", response_model=Page[ApiKeyRead])
async def list_api_keys(
    _subject: UsersAdmin,
    session: SessionDep,
    page: PageQuery,
    user_id: Annotated[int | None, Query(alias="userId", ge=1)] = None,
    include_revoked: Annotated[bool, Query(alias="includeRevoked")] = False,
) -> Page[ApiKeyRead]:
    """By id."""
    found = await service.list_api_keys(
        session, user_id=user_id, include_revoked=include_revoked, request=page
    )
    return Page[ApiKeyRead](
        items=[ApiKeyRead.model_validate(k) for k in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@api_keys_router.get("/{api_key_id}", response_model=ApiKeyRead)
async def get_api_key(api_key_id: int, _subject: UsersAdmin, session: SessionDep) -> ApiKeyRead:
    return ApiKeyRead.model_validate(await service.get_api_key(session, api_key_id))


@api_keys_router.delete("/{api_key_id}", status_code=204)
async def revoke_api_key(api_key_id: int, subject: UsersAdmin, session: SessionDep) -> Response:
    await service.revoke_api_key(session, subject, api_key_id)
    return Response(status_code=204)

"""POST /api/v1/auth/token and the public keys at /.well-known/jwks.json (both public)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from shopdb.auth import service
from shopdb.auth.schemas import TokenRequest, TokenResponse
from shopdb.auth.tokens import TokenService
from shopdb.db import SessionDep
from shopdb.kit.routing import domain_router

router = domain_router("/auth", tags=["auth"])
jwks_router = APIRouter(tags=["auth"])


@router.post("/token", response_model=TokenResponse)
async def create_token(body: TokenRequest, request: Request, session: SessionDep) -> TokenResponse:
    tokens: TokenService = request.app.state.tokens
    issued = await service.login(session, tokens, body.email, body.password)
    return TokenResponse(access_token=issued.token, expires_in=issued.expires_in)


@jwks_router.get("/.well-known/jwks.json")
async def jwks(request: Request) -> dict[str, Any]:
    tokens: TokenService = request.app.state.tokens
    return tokens.jwks()

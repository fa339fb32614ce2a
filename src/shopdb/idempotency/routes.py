"""`@idempotent`: the one declaration that makes a POST honour an `Idempotency-Key` header.

    @router.post("", status_code=201, response_model=ProductDetail)
    @idempotent
    async def create_product(session: SessionDep, subject: ProductsWrite, ...) -> Response:

The route's own dependencies (authentication first) run as usual; then, when the request
carries the header, the key is claimed in the request's transaction (service.py) and either
the stored response is replayed without calling the endpoint, or the endpoint runs and its
response is stored before UnitOfWorkRoute commits, in the same transaction as the work.
Without the header the endpoint is called straight away: no query, no round trip.

It is a decorator, not a plain dependency, because it must see the endpoint's response
before the commit: a dependency never sees it, and a `yield` dependency's exit runs too late
(after the response is sent, see CONVENTIONS.md). The endpoint must authenticate (keys belong
to their caller, `Subject.principal`) and return a Response with its whole body.

`@idempotent(gate=...)`: a keyed request first enters `gate(request)`, an async context
manager, and leaves it when the endpoint has returned (before the commit). It runs after the
route's dependencies and before the claim takes a pooled connection, for an endpoint that
must bound how many keyed requests run at once (orders.pool.keyed_placement_slot).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, ParamSpec, overload

from fastapi import Header, Request, Response

from shopdb.dependencies import get_session
from shopdb.idempotency import service
from shopdb.idempotency.rules import (
    HEADER,
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    check_key,
    fingerprint,
    form_parts,
    replayed,
    stored,
)

P = ParamSpec("P")

_REQUEST = "idempotency_request__"
_KEY = "idempotency_key__"
_CLAIM_STATE = "idempotency_claim"
_ANSWERED_STATE = "idempotency_answered"
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")

KeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=KEY_PATTERN,
        description=(
            f"1..{MAX_KEY_LENGTH} printable ASCII characters, unique per caller and "
            "operation. A retry with the same key and the same request gets the first "
            "successful response again (with `Idempotent-Replayed: true`) instead of "
            "repeating the work; with another request, 422 IDEMPOTENCY_KEY_REUSED. Kept 24 h."
        ),
    ),
]


Endpoint = Callable[P, Awaitable[Response]]
Gate = Callable[[Request], AbstractAsyncContextManager[object]]


@overload
def idempotent(endpoint: Endpoint[P], /) -> Endpoint[P]: ...


@overload
def idempotent(*, gate: Gate) -> Callable[[Endpoint[P]], Endpoint[P]]: ...


def idempotent(
    endpoint: Endpoint[P] | None = None, /, *, gate: Gate | None = None
) -> Endpoint[P] | Callable[[Endpoint[P]], Endpoint[P]]:
    if endpoint is None:
        assert gate is not None
        return functools.partial(_decorate, gate=gate)
    return _decorate(endpoint, gate=gate)


def _decorate(endpoint: Endpoint[P], *, gate: Gate | None) -> Endpoint[P]:
    signature = inspect.signature(endpoint, eval_str=True)
    returns = signature.return_annotation
    if not (isinstance(returns, type) and issubclass(returns, Response)):
        # A model returned for FastAPI to serialise would be serialised after this wrapper
        # returns: there would be no body to store.
        raise TypeError(f"@idempotent {endpoint.__name__} must be annotated to return Response")

    # FastAPI passes the Request to one parameter only: the endpoint's own, if it has one.
    own_request = next(
        (p.name for p in signature.parameters.values() if p.annotation is Request), None
    )

    @functools.wraps(endpoint)
    async def wrapper(*args: Any, **kwargs: Any) -> Response:
        request: Request = kwargs[own_request] if own_request else kwargs.pop(_REQUEST)
        key: str | None = kwargs.pop(_KEY)
        if key is None:
            return await endpoint(*args, **kwargs)
        key = check_key(key)
        if gate is None:
            return await keyed(request, key, args, kwargs)
        async with gate(request):
            return await keyed(request, key, args, kwargs)

    async def keyed(
        request: Request, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Response:
        outcome = await _claim(request, key)
        if isinstance(outcome, service.Finished):
            return replayed(outcome.status, outcome.body)
        setattr(request.state, _CLAIM_STATE, outcome)
        response = await endpoint(*args, **kwargs)
        # A failure is not stored: UnitOfWorkRoute rolls it back, claim included (service.py).
        # Nor again what the endpoint stored itself (answer_now).
        answered = getattr(request.state, _ANSWERED_STATE, None)
        if response.status_code < 400 and response is not answered:
            session = await get_session(request)
            await service.complete(session, outcome, response.status_code, stored(response))
        return response

    extra = [
        inspect.Parameter(_KEY, inspect.Parameter.KEYWORD_ONLY, annotation=KeyHeader, default=None)
    ]
    if own_request is None:
        extra.append(
            inspect.Parameter(_REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
        )
    parameters = list(signature.parameters.values())
    if parameters and parameters[-1].kind is inspect.Parameter.VAR_KEYWORD:
        parameters[-1:-1] = extra
    else:
        parameters.extend(extra)
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return wrapper


async def answer_now(request: Request, response: Response) -> None:
    """Store `response` as the answer to the request's Idempotency-Key now, in the request's
    transaction, rather than once the endpoint returns it: for an endpoint whose last
    statements must be few (an order's placement, which then locks its stock rows until the
    commit). Called again, it stores the later response; the endpoint must return the one it
    stored last. Nothing without a key."""
    claim = getattr(request.state, _CLAIM_STATE, None)
    if claim is None:
        return
    if response.status_code >= 400:
        raise ValueError("only a success is stored as a key's answer")
    await service.complete(
        await get_session(request), claim, response.status_code, stored(response)
    )
    setattr(request.state, _ANSWERED_STATE, response)


def in_effect(request: Request) -> bool:
    """True inside an @idempotent endpoint serving a request that carries a key: its work
    must then stay in the request's transaction (no self-committing shortcut)."""
    return getattr(request.state, _CLAIM_STATE, None) is not None


async def _claim(request: Request, key: str) -> service.Claim | service.Finished:
    subject = getattr(request.state, "subject", None)
    if subject is None:
        raise RuntimeError("an @idempotent route must authenticate: keys belong to a caller")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(_FORMS):
        body = await form_parts(await request.form())
    else:
        body = [await request.body()]
    request_hash = fingerprint(
        request.method, request.url.path, request.scope.get("query_string", b""), body
    )
    return await service.claim(
        await get_session(request),
        principal=subject.principal,
        key=key,
        method=request.method,
        path=request.url.path,
        request_hash=request_hash,
    )

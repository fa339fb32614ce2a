"""Typed errors and the one place that renders them as the seed's error envelope.

Every failure leaves the API as `{"code", "message", "details": [{"field", "message"}]}`.
Services raise ShopdbError subclasses; nothing below endpoints knows about HTTP exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic.alias_generators import to_camel
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)

ErrorDetail = dict[str, str]


class ShopdbError(Exception):
    status_code = 500
    code = "INTERNAL_ERROR"

    def __init__(
        self,
        message: str,
        details: Sequence[ErrorDetail] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)
        self.headers = headers or {}


class ValidationFailed(ShopdbError):
    status_code = 400
    code = "VALIDATION_ERROR"

    @classmethod
    def on(cls, field: str, message: str) -> ValidationFailed:
        return cls("Validation failed", [{"field": field, "message": message}])


class Unauthorized(ShopdbError):
    status_code = 401
    code = "UNAUTHORIZED"

    def __init__(self, message: str = "Authentication required") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ShopdbError):
    status_code = 403
    code = "FORBIDDEN"


class NotFound(ShopdbError):
    status_code = 404
    code = "NOT_FOUND"

    @classmethod
    def resource(cls, resource: str, identifier: object) -> NotFound:
        return cls(f"{resource} {identifier} not found")


class Conflict(ShopdbError):
    status_code = 409
    code = "CONFLICT"


class PreconditionFailed(ShopdbError):
    status_code = 412
    code = "PRECONDITION_FAILED"


class PayloadTooLarge(ShopdbError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"


class RateLimited(ShopdbError):
    status_code = 429
    code = "RATE_LIMITED"


_HTTP_CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    412: "PRECONDITION_FAILED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}


def error_body(code: str, message: str, details: Sequence[ErrorDetail] = ()) -> dict[str, Any]:
    return {"code": code, "message": message, "details": list(details)}


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Sequence[ErrorDetail] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code, headers=headers)


def _field_path(loc: Sequence[int | str]) -> str:
    """("body", "variants", 0, "price") -> "variants[0].price"; the section names the source."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    if path:
        return path
    return str(loc[0]) if loc else "body"


def _validation_details(exc: RequestValidationError) -> list[ErrorDetail]:
    details = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            message = "Malformed JSON: " + str(error.get("ctx", {}).get("error", "cannot parse"))
            details.append({"field": "body", "message": message})
            continue
        loc = error.get("loc", ())
        # Pydantic appends the union member or function name to the location; drop those.
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or "(" in p)))
        details.append({"field": _field_path(loc), "message": str(error.get("msg", "invalid"))})
    return details


async def _shopdb_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ShopdbError)
    if exc.status_code >= 500:
        # A server-side failure's message may carry internals (SQL, paths): log it, don't send it.
        log.error("shopdb_error", path=request.url.path, message=exc.message)
        return error_response(exc.status_code, exc.code, "An internal server error occurred")
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _request_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, "VALIDATION_ERROR", "Validation failed", _validation_details(exc))


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "INTERNAL_ERROR" if exc.status_code >= 500 else "ERROR")
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    details: list[ErrorDetail] = []
    if exc.status_code == 400:
        # FastAPI's own 400s are about the body it could not parse (e.g. JSON nested deeper
        # than the parser's recursion limit): say so, so the client knows what to fix.
        details = [{"field": "body", "message": message}]
    return error_response(exc.status_code, code, message, details, headers=exc.headers)


_PG_KEY_COLUMNS = re.compile(r"^Key \(([^)]*)\)=")
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")


def _conflicting_fields(exc: BaseException) -> list[str]:
    """The columns a violated unique key or foreign key names, as camelCase fields.

    Only column names are read from the driver's message, never the values it quotes (they
    may be personal data).
    """
    orig = getattr(exc, "orig", None)
    detail = getattr(orig, "detail", None)
    columns: list[str] = []
    if isinstance(detail, str) and (found := _PG_KEY_COLUMNS.match(detail)):
        columns = [c.strip().strip('"') for c in found.group(1).split(",")]
    elif found := _SQLITE_UNIQUE.search(str(orig)):
        columns = [c.strip().rsplit(".", 1)[-1] for c in found.group(1).split(",")]
    return [to_camel(c.removesuffix("_hash")) for c in columns if c]


async def _integrity_error(_request: Request, exc: Exception) -> JSONResponse:
    # A constraint the service did not pre-check (typically a race on a unique key).
    # The SQL and driver message stay in the log, never in the response.
    log.warning("integrity_error", error=str(getattr(exc, "orig", exc)))
    fields = _conflicting_fields(exc) or ["body"]
    details = [{"field": f, "message": "conflicts with existing data"} for f in fields]
    return error_response(409, "CONFLICT", "The change conflicts with existing data", details)


# SQLSTATE class 22, "data exception": a value the column cannot hold (out of range, NUL in
# text, malformed input). The request bodies and parameters are bounded before they reach the
# database (kit/bounds.py); this covers what only the database can know, such as a sum that
# leaves INTEGER.
_DATA_EXCEPTION_CLASS = "22"
_OUT_OF_RANGE: list[ErrorDetail] = [
    {"field": "body", "message": "a value is out of range or not valid for where it is stored"}
]


def _is_data_exception(exc: BaseException) -> bool:
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_DATA_EXCEPTION_CLASS)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if _is_data_exception(exc):
        log.warning("data_exception", path=request.url.path, error=str(getattr(exc, "orig", exc)))
        return error_response(400, "VALIDATION_ERROR", "Validation failed", _OUT_OF_RANGE)
    return await _unhandled_error(request, exc)


async def _overflow_error(request: Request, exc: Exception) -> JSONResponse:
    # SQLite's driver raises OverflowError for an integer beyond 64 bits instead of a data
    # exception.
    log.warning("overflow", path=request.url.path, error=str(exc))
    return error_response(400, "VALIDATION_ERROR", "Validation failed", _OUT_OF_RANGE)


async def _stale_data_error(_request: Request, _exc: Exception) -> JSONResponse:
    return error_response(409, "CONFLICT", "The resource was changed by another request; retry")


async def _unhandled_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path, exc_info=exc)
    return error_response(500, "INTERNAL_ERROR", "An internal server error occurred")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ShopdbError, _shopdb_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(StaleDataError, _stale_data_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(OverflowError, _overflow_error)
    app.add_exception_handler(Exception, _unhandled_error)

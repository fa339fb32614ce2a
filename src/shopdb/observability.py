"""Structured logs, request ids, security headers and the request-size limit (pure ASGI)."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from typing import Any

import orjson
import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopdb.errors import error_body

log = structlog.get_logger("shopdb.access")


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    if json:
        # orjson renders to bytes; BytesLogger writes them without re-encoding (the cheap path,
        # which matters because every request logs one line).
        renderer: Any = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        factory: Any = structlog.BytesLoggerFactory(sys.stderr.buffer)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        factory = structlog.PrintLoggerFactory(sys.stderr)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]
# The API answers JSON only; /docs needs its local scripts and styles.
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    b"default-src 'self'; img-src 'self' data:; "
    b"style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'"
)


class RequestContextMiddleware:
    """Request id, access log line, security headers, and a cap on request body size."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:128] or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}
        path: str = scope["path"]
        csp = DOCS_CSP if path.startswith(("/docs", "/static/")) else API_CSP

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send, request_id)
            return
        response_started = False

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge(self.max_body_bytes)
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_holder["status"] = message["status"]
                response_headers = list(message.get("headers", []))
                response_headers.append((b"x-request-id", request_id.encode("latin-1")))
                response_headers.extend(SECURITY_HEADERS)
                response_headers.append((b"content-security-policy", csp))
                message["headers"] = response_headers
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            await self._too_large(send, request_id)
            status_holder["status"] = 413
        except Exception:
            # Rendered here rather than by Starlette's outermost handler so that a 500 also
            # carries the request id and security headers. Details go to the log only.
            log.exception("unhandled_error", path=path)
            if response_started:
                raise
            await self._send_error(
                send, request_id, 500, "INTERNAL_ERROR", "An internal server error occurred"
            )
            status_holder["status"] = 500
        finally:
            log.info(
                "request",
                method=scope["method"],
                path=path,
                status=status_holder["status"],
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()

    async def _too_large(self, send: Send, request_id: str) -> None:
        message = f"Request body exceeds {self.max_body_bytes} bytes"
        await self._send_error(send, request_id, 413, "PAYLOAD_TOO_LARGE", message)

    @staticmethod
    async def _send_error(
        send: Send, request_id: str, status: int, code: str, message: str
    ) -> None:
        body = orjson.dumps(error_body(code, message))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode("latin-1")),
                    *SECURITY_HEADERS,
                    (b"content-security-policy", API_CSP),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(StarletteHTTPException):
    """An HTTP exception, so FastAPI's body reader passes it on (it turns others into 400s)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body exceeds {limit} bytes")

"""Structured logs, request ids, security headers, the request-size limit (pure ASGI), and
the `/metrics` route (the metrics themselves are in shopdb.metrics).

Logs never carry a password, token, API key, card number, customer email or phone: nothing
logs them on purpose, statements' parameters are hidden (shopdb.db), and `redact` below masks
what slips through (fields named for a secret, and values shaped like one) in every line,
structlog's and the standard library's alike. tests/test_logs_without_secrets.py runs the
flows that handle such data with DEBUG logging and searches every line.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import MutableMapping
from typing import Annotated, Any, TextIO

import orjson
import structlog
from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopdb import metrics
from shopdb.auth.dependencies import Authenticator
from shopdb.config import Settings
from shopdb.db import Database
from shopdb.dependencies import get_session
from shopdb.errors import error_body
from shopdb.kit.routing import UnitOfWorkRoute
from shopdb.services import services_of

log = structlog.get_logger("shopdb.access")

# --- redaction ------------------------------------------------------------------------------

REDACTED = "[redacted]"
# Fields whose value is a secret or personal data whatever it looks like.
_SECRET_FIELD = re.compile(
    r"(^|_)(password|passwd|secret|token|authorization|cookie|api_key|apikey|card_number|"
    r"cvc|cvv|email|phone)$",
    re.IGNORECASE,
)
# Values shaped like one, wherever they appear (an exception's text, a third party's message).
_SECRET_VALUE = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # an email address
    r"|(?i:bearer)\s+[\w.~+/=-]+"  # an Authorization header's credentials
    r"|eyJ[\w-]+\.[\w-]+\.[\w-]*"  # a JWT
    r"|shpk_[0-9a-f]+_[\w-]+"  # a shopdb API key
    r"|(?<![\w.:])\+?\d(?:[ ().-]{0,2}\d){8,18}(?![\w.:])"  # a card or phone number
)
_KEEP = frozenset({"timestamp", "level", "logger", "request_id", "duration_ms", "status"})


def _scrub(value: str) -> str:
    return _SECRET_VALUE.sub(REDACTED, value)


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: secrets and personal data out of the line."""
    for key, value in event.items():
        if key not in _KEEP:
            event[key] = _clean(key, value)
    return event


def _clean(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if _SECRET_FIELD.search(key):
        return REDACTED
    if isinstance(value, str):
        return _scrub(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean("", item) for item in value]
    if isinstance(value, dict):
        return {str(k): _clean(str(k), v) for k, v in value.items()}
    return _scrub(str(value))


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "msg": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


class _Output:
    """Where every line goes, and in which form.

    structlog caches each logger on its first use (cheaper per line), with the processors
    and output of that moment; reading these settings at each line instead lets
    configure_logging change them for loggers already cached (a test capturing the logs, a
    level set after startup).
    """

    level = logging.INFO
    json = False
    stream: TextIO | None = None  # None: sys.stderr as it is when the line is written
    _json = structlog.processors.JSONRenderer(serializer=orjson.dumps)
    _console = structlog.dev.ConsoleRenderer(colors=False)

    def gate(self, _logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        if _LEVELS.get(method, logging.INFO) < self.level:
            raise structlog.DropEvent
        return event

    def render(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        if self.json:
            # orjson renders to bytes, written without re-encoding where the stream allows.
            return self._json(logger, method, event)
        return self._console(logger, method, event)

    def render_text(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> str:
        rendered = self.render(logger, method, event)
        return rendered.decode() if isinstance(rendered, bytes) else str(rendered)

    def write(self, line: str | bytes) -> None:
        stream = self.stream or sys.stderr
        if isinstance(line, bytes):
            buffer = getattr(stream, "buffer", None)
            if buffer is not None:
                buffer.write(line + b"\n")
                buffer.flush()
                return
            line = line.decode()
        stream.write(line + "\n")
        stream.flush()


_output = _Output()


class _Writer:
    """The logger structlog calls with each rendered line, whatever its level."""

    def __getattr__(self, _method: str) -> Any:
        return _output.write


class _Forward(logging.Handler):
    """The standard library's records, rendered and written as structlog's lines are."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _output.write(self.format(record))
        except Exception:
            self.handleError(record)


_STDLIB_HANDLER = "shopdb"


def configure_logging(
    level: str = "INFO", *, json: bool = False, stream: TextIO | None = None
) -> None:
    """structlog's lines and the standard library's (SQLAlchemy, asyncpg, redis, uvicorn's
    errors) in one format, on stderr (or `stream`), redacted alike."""
    numeric = logging.getLevelName(level.upper())
    _output.level, _output.json, _output.stream = numeric, json, stream
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    structlog.configure(
        processors=[_output.gate, *shared, _output.render],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=lambda *_: _Writer(),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _output.render_text,
        ],
    )
    handler = _Forward()
    handler.set_name(_STDLIB_HANDLER)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.get_name() == _STDLIB_HANDLER]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(numeric)
    # SQLAlchemy logs every statement at INFO once its logger is enabled for INFO: the
    # production level would then log each query. DEBUG (and SHOPDB_DATABASE_ECHO) show them.
    quiet = numeric if numeric <= logging.DEBUG else logging.WARNING
    logging.getLogger("sqlalchemy").setLevel(quiet)
    # aiosqlite logs every call at DEBUG with its statement's parameters (a staff email, a
    # customer's name): the parameters SQLAlchemy hides (db.py) would show there.
    logging.getLogger("aiosqlite").setLevel(max(numeric, logging.INFO))
    # An INFO line per outgoing HTTP call (a payment gateway's, a webhook's): DEBUG only.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(quiet)


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
        request_id = _request_id(headers.get(b"x-request-id"))
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
                route=metrics.route_template(scope),
                status=status_holder["status"],
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                **_caller(scope),
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


_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def _request_id(presented: bytes | None) -> str:
    """The client's X-Request-Id when it is a plain token (it is echoed in a header and
    written in every log line: no spaces, quotes or newlines), else a new one."""
    if presented and _REQUEST_ID.fullmatch(presented):
        return presented.decode("ascii")
    return uuid.uuid4().hex


def _caller(scope: Scope) -> dict[str, int]:
    """Who made the request, as the Authenticator found (ids only)."""
    state = scope.get("state")
    subject = state.get("subject") if isinstance(state, dict) else None
    if subject is None:
        return {}
    fields = {"user_id": subject.user_id}
    if subject.api_key_id is not None:
        fields["api_key_id"] = subject.api_key_id
    return fields


class _BodyTooLarge(StarletteHTTPException):
    """An HTTP exception, so FastAPI's body reader passes it on (it turns others into 400s)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body exceeds {limit} bytes")


# --- GET /metrics ---------------------------------------------------------------------------

# A unit-of-work route like every other: authenticating opens the request's session.
router = APIRouter(tags=["observability"], route_class=UnitOfWorkRoute)
_metrics_reader = Authenticator({"metrics:read"})


async def allow_metrics(
    request: Request, session: Annotated[AsyncSession, Depends(get_session)]
) -> None:
    """SHOPDB_METRICS_TOKEN as a bearer token (what a Prometheus scrape config sends), or a
    token or API key whose caller holds `metrics:read`."""
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    expected = services_of(request.app).settings.metrics_token
    bearer = None
    if scheme.lower() == "bearer" and credentials:
        if expected is not None and hmac.compare_digest(
            credentials.encode(), expected.get_secret_value().encode()
        ):
            return
        bearer = HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)
    await _metrics_reader(request, session, bearer, request.headers.get("x-api-key"))


@router.get("/metrics", response_class=Response, dependencies=[Depends(allow_metrics)])
async def read_metrics(session: Annotated[AsyncSession, Depends(get_session)]) -> Response:
    backlog = await metrics.QueueBacklogRepository(session).backlog()
    body = metrics.render(metrics.backlog_families(backlog))
    return Response(body, media_type=metrics.CONTENT_TYPE)


# --- the metrics port: /metrics without credentials, for a scraper on a private network -----


class MetricsServer:
    """GET /metrics on SHOPDB_METRICS_HOST:SHOPDB_METRICS_PORT, beside the API.

    Every API worker process listens on the port (SO_REUSEPORT, as the API's own sockets);
    whichever answers renders every worker's counts (multiprocess mode), so one scrape is
    the whole server. No credentials: the port is meant for a network only the scraper
    reaches (loopback by default).
    """

    def __init__(self, settings: Settings, database: Database) -> None:
        self.host = settings.metrics_host
        self.port = settings.metrics_port
        self.database = database
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        if self.port is None:
            return
        self._server = await asyncio.start_server(
            self._answer, self.host, self.port, reuse_port=True
        )

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                request_line = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # headers: nothing in them changes the answer
                method, _, rest = request_line.partition(b" ")
                target = rest.split(b" ", 1)[0].split(b"?", 1)[0]
                if method != b"GET" or target != b"/metrics":
                    status, body, kind = b"404 Not Found", b"not found\n", b"text/plain"
                else:
                    status, body, kind = (
                        b"200 OK",
                        await self._render(),
                        metrics.CONTENT_TYPE.encode(),
                    )
                writer.write(
                    b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n%s" % (status, kind, len(body), body)
                )
                await writer.drain()
        except Exception:
            log.warning("metrics_port_request_failed", exc_info=True)
        finally:
            writer.close()

    async def _render(self) -> bytes:
        async with self.database.sessionmaker() as session:
            # A read: on SQLite it must not take the write lock the API's writers wait for.
            await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            backlog = await metrics.QueueBacklogRepository(session).backlog()
        return metrics.render(metrics.backlog_families(backlog))


# --- OpenTelemetry traces -------------------------------------------------------------------

OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target")


def setup_tracing(app: Any, database: Database, *, provider: Any = None) -> bool:
    """Traces of each request, its SQL statements and its Redis commands, exported over OTLP.

    Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (the standard variable; the exporter reads
    the other OTEL_* ones itself, OTEL_SERVICE_NAME included) or a test hands a `provider`.
    The packages are optional (`pip install shopdb[otel]`); without them a warning says so
    and the server runs untraced. Statements are recorded without their parameters, and
    URLs without their query string (a customer search by email is one).
    """
    if provider is None and not os.environ.get(OTLP_ENDPOINT_ENV):
        return False
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    except ImportError:
        log.warning("tracing_unavailable", reason="the opentelemetry packages are not installed")
        return False
    if provider is None:
        provider = _otlp_provider()
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, server_request_hook=_without_query
    )
    engines = [database.primary.sync_engine, *(e.sync_engine for e in database.replicas)]
    # Its declared range stops below SQLAlchemy 2.1, which it instruments all the same (the
    # engine events it listens to are unchanged); tests/test_metrics.py checks the spans.
    SQLAlchemyInstrumentor().instrument(
        engines=engines, tracer_provider=provider, skip_dep_check=True
    )
    RedisInstrumentor().instrument(tracer_provider=provider)
    return True


def stop_tracing(app: Any) -> None:
    """Undo setup_tracing (tests: the instrumentation patches process-wide classes)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    FastAPIInstrumentor.uninstrument_app(app)
    SQLAlchemyInstrumentor().uninstrument()
    RedisInstrumentor().uninstrument()


def _otlp_provider() -> Any:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "shopdb")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def _without_query(span: Any, _scope: Any) -> None:
    if not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(name, value.split("?", 1)[0])
    if attributes.get("url.query"):
        span.set_attribute("url.query", "")

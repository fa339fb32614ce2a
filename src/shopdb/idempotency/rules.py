"""The pure parts of Idempotency-Key handling: the key's form, the request's fingerprint, and
the stored response (no database, no FastAPI dependency)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from shopdb.idempotency.errors import HEADER, InvalidIdempotencyKey

REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEY_PATTERN = r"^[ -~]+$"  # printable ASCII, space included
TTL = timedelta(hours=24)
# What a replay repeats besides the status and the body: the headers a client acts on.
KEPT_HEADERS = ("Content-Type", "ETag", "Location")

__all__ = [
    "HEADER",
    "KEPT_HEADERS",
    "KEY_PATTERN",
    "MAX_KEY_LENGTH",
    "REPLAYED_HEADER",
    "TTL",
    "check_key",
    "fingerprint",
    "form_parts",
    "replayed",
    "stored",
]


def check_key(key: str) -> str:
    """1..255 printable ASCII characters (space included), as Stripe and the IETF draft allow."""
    if not key:
        raise InvalidIdempotencyKey("must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(f"at most {MAX_KEY_LENGTH} characters")
    if not all(" " <= c <= "~" for c in key):
        raise InvalidIdempotencyKey("only printable ASCII characters")
    return key


def fingerprint(method: str, path: str, query: bytes, body: Iterable[bytes]) -> str:
    """SHA-256 over the method, path, raw query string and body, each part length-prefixed so
    that no two different requests hash the same concatenation."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query, *body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def form_parts(form: FormData) -> list[bytes]:
    """A form's content, without the multipart boundary: a client retrying an upload picks a
    new random boundary, so the raw bytes of the same file differ from one try to the next.

    Files are read and rewound: the endpoint reads them afterwards.
    """
    parts: list[bytes] = []
    for name, value in form.multi_items():
        parts.append(name.encode())
        if isinstance(value, UploadFile):
            parts.append(b"file:" + (value.filename or "").encode())
            parts.append(await value.read())
            await value.seek(0)
        else:
            parts.append(b"field:" + value.encode())
    return parts


def stored(response: Response) -> dict[str, Any]:
    """What `replayed` needs to answer again byte for byte (the JSON of `response_body`)."""
    body = getattr(response, "body", None)
    if not isinstance(body, bytes | memoryview):
        # A streamed body is gone once sent: nothing could replay it.
        raise TypeError("an idempotent route must return a Response with its whole body")
    raw = bytes(body)
    headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    try:
        return {"headers": headers, "body": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"headers": headers, "body_base64": base64.b64encode(raw).decode("ascii")}


def replayed(status_code: int, saved: dict[str, Any]) -> Response:
    if "body_base64" in saved:
        content = base64.b64decode(saved["body_base64"])
    else:
        content = str(saved.get("body", "")).encode("utf-8")
    headers = {str(k): str(v) for k, v in dict(saved.get("headers") or {}).items()}
    headers[REPLAYED_HEADER] = "true"
    return Response(content, status_code=status_code, headers=headers)

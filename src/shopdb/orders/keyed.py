"""The Idempotency-Key token an order is placed under (orders.idempotency_token).

The token names the caller's key without holding it: a key may carry what the caller would
not store in an order (and orders outlive keys by far), so only a hash is kept.
"""

from __future__ import annotations

import hashlib

from fastapi import Request

from shopdb.idempotency import in_effect
from shopdb.idempotency.rules import HEADER

# Separates these hashes from any other SHA-256 over the same parts.
_DOMAIN = b"shopdb.orders.idempotency_token"


def idempotency_token(principal: str, key: str) -> str:
    """SHA-256 (hex) of the caller and the key, as the Idempotency-Key rows identify a key:
    (principal, key). Each part is length-prefixed, so no two pairs share a token."""
    digest = hashlib.sha256(_DOMAIN)
    for part in (principal.encode(), key.encode()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def request_token(request: Request, principal: str) -> str | None:
    """The token of the key this @idempotent request claimed; None without one."""
    if not in_effect(request):
        return None
    key = request.headers.get(HEADER)
    return None if key is None else idempotency_token(principal, key)

"""API key secrets: `shpk_<id>_<secret>`. The id part finds the row; only a SHA-256 is stored.

A plain SHA-256 (not argon2) is right here: the secret is 256 random bits, so there is nothing
to brute-force, and keys are checked on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "shpk_"
_ID_BYTES = 6
_SECRET_BYTES = 32


@dataclass(frozen=True)
class NewApiKey:
    prefix: str
    secret: str
    key_hash: str


def hash_key(full_key: str) -> str:
    return hashlib.sha256(full_key.encode("utf-8")).hexdigest()


def generate_api_key() -> NewApiKey:
    prefix = KEY_PREFIX + secrets.token_hex(_ID_BYTES)
    secret = f"{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    return NewApiKey(prefix=prefix, secret=secret, key_hash=hash_key(secret))


def prefix_of(full_key: str) -> str | None:
    """The lookup part of a presented key, or None when it is not shaped like one of ours."""
    length = len(KEY_PREFIX) + 2 * _ID_BYTES
    if not full_key.startswith(KEY_PREFIX) or full_key[length : length + 1] != "_":
        return None
    return full_key[:length]


def matches(full_key: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_key(full_key), key_hash)

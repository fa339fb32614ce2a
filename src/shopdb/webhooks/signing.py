"""The subscription's secret and the signature of each delivery.

The secret is generated at creation and shown once, in that answer. It is stored sealed with
the PII keys (AES-256-GCM, shopdb.kit.crypto; the column name is bound in): the worker must
sign with it, so it cannot be hashed, but a database dump or a replica does not hold it.

The signature is Shopify's: base64 of the HMAC-SHA256 of the exact body bytes sent, keyed by
the secret. A receiver recomputes it over the raw body and compares in constant time
(`verify`, which the tests' receiver uses too).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

from shopdb.kit.crypto import FieldCipher

_CONTEXT = "webhooks.secret"
# Fixed: the same (delivery, subscription, event) must give the same id after a restart.
_WEBHOOK_ID_NAMESPACE = uuid.UUID("6f1c9a52-1d7e-4c1b-9a55-2a4a3c0b8e11")


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def seal(cipher: FieldCipher, secret: str) -> str:
    return cipher.encrypt(secret, context=_CONTEXT)


def unseal(cipher: FieldCipher, sealed: str) -> str:
    return cipher.decrypt(sealed, context=_CONTEXT)


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature)


def webhook_id(delivery_id: int, subscription_id: int, event_id: int | None) -> str:
    """X-Shopdb-Webhook-Id: one per (event, subscription), the same on every retry, so a
    receiver can drop the duplicates at-least-once delivery makes."""
    return str(uuid.uuid5(_WEBHOOK_ID_NAMESPACE, f"{delivery_id}:{subscription_id}:{event_id}"))

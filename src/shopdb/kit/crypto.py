"""Field encryption for personal data, and a keyed blind index for exact lookups.

Ciphertext format: `v1:<key id>:<base64url(nonce || AES-256-GCM ciphertext+tag)>`. The key id
lets old rows be read after a new key is put first in the key list (rotation); the column
name is bound in as associated data, so a ciphertext moved to another column fails to decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_NONCE_BYTES = 12
# AES-256 keys are exactly this long; the blind-index HMAC key at least this long.
KEY_BYTES = 32


class DecryptionError(Exception):
    pass


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_key() -> str:
    return _b64e(secrets.token_bytes(KEY_BYTES))


def decode_key(encoded: str) -> bytes:
    """A base64url key as configured (padding optional); ValueError when it is not base64url."""
    text = encoded.strip()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64url") from exc


@dataclass(frozen=True)
class FieldCipher:
    """Keys are `(key id, 32-byte key)`; the first one encrypts, any of them decrypts."""

    keys: tuple[tuple[str, bytes], ...]
    blind_index_key: bytes
    # One AESGCM per key, made once: building it costs more than decrypting an email (a list
    # page decrypts one per order).
    _aead: dict[str, AESGCM] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("at least one encryption key is required")
        for kid, key in self.keys:
            if len(key) != KEY_BYTES or ":" in kid:
                raise ValueError(f"key {kid!r} must be 32 bytes and its id must not contain ':'")
        if len(self.blind_index_key) < KEY_BYTES:
            raise ValueError("the blind-index key must be at least 32 bytes")
        object.__setattr__(self, "_aead", {kid: AESGCM(key) for kid, key in self.keys})

    @classmethod
    def from_config(cls, keys: list[str], blind_index_key: str) -> FieldCipher:
        parsed = []
        for entry in keys:
            kid, _, encoded = entry.partition(":")
            parsed.append((kid, decode_key(encoded)))
        return cls(tuple(parsed), decode_key(blind_index_key))

    def encrypt(self, plaintext: str, *, context: str) -> str:
        kid = self.keys[0][0]
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead[kid].encrypt(nonce, plaintext.encode("utf-8"), context.encode())
        return f"{_VERSION}:{kid}:{_b64e(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str) -> str:
        try:
            version, kid, payload = token.split(":", 2)
        except ValueError as exc:
            raise DecryptionError("not an encrypted value") from exc
        aead = self._aead.get(kid)
        if version != _VERSION or aead is None:
            raise DecryptionError(f"unknown key id {kid!r}")
        raw = _b64d(payload)
        try:
            plain = aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except Exception as exc:
            raise DecryptionError("ciphertext does not authenticate") from exc
        return plain.decode("utf-8")

    def blind_index(self, value: str) -> str:
        """HMAC-SHA256 of the value: equal inputs match, the value cannot be read back."""
        return hmac.new(self.blind_index_key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


def seal_email(cipher: FieldCipher, email: str, *, context: str) -> tuple[str, str]:
    """(ciphertext, blind index) of an email; the index is of the normalised form, so the same
    address has the same index in every column that uses this cipher's index key."""
    normalised = normalise_email(email)
    return cipher.encrypt(normalised, context=context), cipher.blind_index(normalised)

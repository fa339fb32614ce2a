"""Gift card codes: how they are written, generated, shown, and stored (as a keyed hash).

A code is letters a-z and digits, 8 to 20 of them, in any letter case (Shopify's rule); a
customer may type it with spaces or dashes between groups, which are ignored. The database
keeps HMAC-SHA256(blind-index key, "gift_cards.code:" + normalised code) in `code`: the
lookup by the full code is an equality on an indexed column, and nobody who reads the
database learns a code. The key is the application's blind-index key (the one customers'
email index uses, shopdb.keys), separated from that use by the prefix.

Which key: checkout's service functions (shopdb.gift_cards.service) take no key argument, so
the process's key lives here. `use_key` installs it (the application's wiring, or a test);
until then it is the blind-index key of the process's settings (`shopdb.config.get_settings`,
which is what `create_app()`, the CLI and the worker run with), loaded once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

MIN_LENGTH, MAX_LENGTH = 8, 20
GENERATED_LENGTH = 16
LAST_CHARACTERS = 4
# No 0/o, 1/l/i: a generated code is read off paper and typed in again.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_SEPARATORS = re.compile(r"[\s-]+")
_VALID = re.compile(rf"^[a-z0-9]{{{MIN_LENGTH},{MAX_LENGTH}}}$")
_CONTEXT = b"gift_cards.code:"
HASH_LENGTH = 64  # hex of SHA-256; a stored code of another length is plaintext

_key: bytes | None = None


class InvalidCode(ValueError):
    pass


def normalise(code: str) -> str:
    return _SEPARATORS.sub("", code).lower()


def checked(code: str) -> str:
    """The normalised code, or InvalidCode saying what is wrong with it."""
    normal = normalise(code)
    if not _VALID.match(normal):
        raise InvalidCode(
            f"must be {MIN_LENGTH} to {MAX_LENGTH} letters (a-z) and digits; "
            "spaces and dashes between them are ignored"
        )
    return normal


def generate() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_LENGTH))


def last_characters(normal: str) -> str:
    return normal[-LAST_CHARACTERS:]


def masked(last: str) -> str:
    """As Shopify shows a card once created: only its last four characters."""
    return f"•••• •••• •••• {last}"


def use_key(key: bytes | None) -> None:
    """Install the process's code key (None: back to the settings' blind-index key)."""
    global _key  # the one process-wide key, see the module's docstring
    if key is not None and len(key) < 32:
        raise ValueError("the gift card code key must be at least 32 bytes")
    _key = key


def _current_key() -> bytes:
    global _key
    if _key is None:
        from shopdb.config import get_settings
        from shopdb.keys import field_cipher

        _key = field_cipher(get_settings()).blind_index_key
    return _key


def digest(normal: str) -> str:
    """What `gift_cards.code` stores for the normalised code `normal`."""
    return hmac.new(_current_key(), _CONTEXT + normal.encode("ascii"), hashlib.sha256).hexdigest()


def digest_of_input(code: str) -> str | None:
    """The stored form of a code as a client typed it; None when it cannot be a code."""
    try:
        return digest(checked(code))
    except InvalidCode:
        return None


def is_digest(stored: str) -> bool:
    return len(stored) == HASH_LENGTH

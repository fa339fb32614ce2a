"""argon2id password hashing, with a dummy verify that makes unknown users cost the same time.

One rule for every path a password takes (the API, `shopdb user create`, `set-password`, the
seeds, login): surrounding whitespace is dropped before anything else, as the API's input
models always did. A password typed with a stray space at the CLI used to be hashed with it,
and the API, which strips, could then never match it.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shopdb.errors import ValidationFailed

MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("shopdb-timing-equaliser")


def normalise_password(password: str) -> str:
    return password.strip()


def check_new_password(password: str, field: str = "password") -> str:
    """The normalised password, or ValidationFailed when it is too short once normalised."""
    normalised = normalise_password(password)
    if len(normalised) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed.on(field, f"must be at least {MIN_PASSWORD_LENGTH} characters long")
    return normalised


def hash_new_password(password: str, field: str = "password") -> str:
    """Check a password a user chose (normalised, then its length) and hash it."""
    return hash_password(check_new_password(password, field))


def hash_password(password: str) -> str:
    return _hasher.hash(normalise_password(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """False for a wrong password, a malformed hash, or no hash (after spending the same time)."""
    try:
        return (
            _hasher.verify(password_hash or _DUMMY_HASH, normalise_password(password))
            and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)

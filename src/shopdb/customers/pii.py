"""How customer personal data is sealed: the cipher context of each encrypted column."""

from __future__ import annotations

from shopdb.kit.crypto import FieldCipher, normalise_email

CUSTOMER_EMAIL = "customers.email"
CUSTOMER_PHONE = "customers.phone"
ADDRESS_PHONE = "customer_addresses.phone"


def seal_email(cipher: FieldCipher, email: str) -> tuple[str, str]:
    """(ciphertext, blind index) for a customer's email; the index is of the normalised form."""
    normalised = normalise_email(email)
    return cipher.encrypt(normalised, context=CUSTOMER_EMAIL), cipher.blind_index(normalised)


def seal_optional(cipher: FieldCipher, value: str | None, *, context: str) -> str | None:
    return None if value is None else cipher.encrypt(value, context=context)


def open_optional(cipher: FieldCipher, token: str | None, *, context: str) -> str | None:
    return None if token is None else cipher.decrypt(token, context=context)

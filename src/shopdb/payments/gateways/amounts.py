"""Amounts and currencies as the gateways accept them: exact, positive, in minor units."""

from __future__ import annotations

import re
from decimal import Decimal

# ISO 4217 minor units of the currencies that have other than two; every other code has two.
_ISO_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        (
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
            "VND", "VUV", "XAF", "XOF", "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}  # fmt: skip

_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def currency_code(currency: str) -> str:
    """The upper-case ISO code; ValueError for anything that is not three letters."""
    if not _CURRENCY.match(currency):
        raise ValueError(f"currency must be a three-letter ISO 4217 code, not {currency!r}")
    return currency.upper()


def iso_exponent(currency: str) -> int:
    return _ISO_EXPONENTS.get(currency_code(currency), 2)


def to_minor_units(amount: Decimal, exponent: int) -> int:
    """`amount` in the currency's smallest unit; ValueError if not positive or not exact.

    Rounding belongs to whoever computed the amount (the orders domain rounds half up to
    the currency's minor unit); a gateway charging a rounded figure it was not given would
    make the books disagree with the card statement.
    """
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"amount must be positive, not {amount}")
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"amount {amount} is finer than the currency's {exponent} decimals")
    return int(scaled)


def from_minor_units(units: int, exponent: int) -> Decimal:
    return Decimal(units).scaleb(-exponent)


def check_amount(amount: Decimal, currency: str) -> tuple[Decimal, str]:
    """The amount, unchanged but checked against the ISO minor units, and the code upper-cased."""
    code = currency_code(currency)
    to_minor_units(amount, iso_exponent(code))
    return amount, code

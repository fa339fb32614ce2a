"""Discount codes' typed errors: each carries its status, a stable code and the field.

The checkout refusals (422 and 409) name the caller's field (`discountCode` by default), so an
order or checkout request reports them against what its client sent.
"""

from __future__ import annotations

from decimal import Decimal

from shopdb.errors import Conflict, NotFound, ShopdbError


class Unprocessable(ShopdbError):
    """A well-formed request that the current state of the shop refuses."""

    status_code = 422
    code = "UNPROCESSABLE"


class DiscountCodeNotFound(NotFound):
    def __init__(self, discount_code_id: int) -> None:
        super().__init__(f"Discount code {discount_code_id} not found")


class DiscountCodeLookupMissed(NotFound):
    def __init__(self) -> None:
        # The code is not repeated: a lookup's miss is not worth echoing a guess into logs.
        super().__init__(
            "No discount code matches", [{"field": "code", "message": "is not a discount code"}]
        )


class DiscountCodeTaken(Conflict):
    code = "DISCOUNT_CODE_TAKEN"

    def __init__(self, code: str) -> None:
        super().__init__(
            f"A discount code {code!r} already exists (in some letter case)",
            [{"field": "code", "message": "is already used by another discount code"}],
        )


class DiscountCodeUnknown(Unprocessable):
    """The code a checkout names does not exist (or was deleted)."""

    code = "DISCOUNT_CODE_NOT_FOUND"

    def __init__(self, field: str) -> None:
        super().__init__(
            "Unknown discount code", [{"field": field, "message": "is not a discount code"}]
        )


class DiscountCodeNotActive(Unprocessable):
    code = "DISCOUNT_CODE_NOT_ACTIVE"

    def __init__(self, field: str, *, scheduled: bool) -> None:
        why = "has not started yet" if scheduled else "has ended"
        super().__init__(f"The discount code {why}", [{"field": field, "message": why}])


class DiscountMinimumNotMet(Unprocessable):
    code = "DISCOUNT_MINIMUM_NOT_MET"

    def __init__(self, field: str, minimum: Decimal) -> None:
        message = f"needs a subtotal of at least {minimum}"
        super().__init__(f"The discount code {message}", [{"field": field, "message": message}])


class DiscountCurrencyMismatch(Unprocessable):
    code = "DISCOUNT_CURRENCY_MISMATCH"

    def __init__(self, field: str, currency: str) -> None:
        message = f"applies to {currency} checkouts only"
        super().__init__(f"The discount code {message}", [{"field": field, "message": message}])


class DiscountUsageLimitReached(Conflict):
    code = "DISCOUNT_USAGE_LIMIT_REACHED"

    def __init__(self, field: str) -> None:
        super().__init__(
            "The discount code has reached its usage limit",
            [{"field": field, "message": "has been used as many times as it may be"}],
        )


class UsageLimitBelowUses(Conflict):
    code = "DISCOUNT_USAGE_LIMIT_BELOW_USES"

    def __init__(self, used: int) -> None:
        super().__init__(
            f"The usage limit cannot be set below the {used} use(s) already made",
            [{"field": "usageLimit", "message": f"must be at least {used} (the uses so far)"}],
        )

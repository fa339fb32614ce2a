"""Gift cards' typed errors: each carries its status, a stable code and the field.

Checkout's refusals (422) name the code's place in the caller's list (`giftCardCodes[1]`);
messages never repeat a code, only what can be shown of it.
"""

from __future__ import annotations

from decimal import Decimal

from shopdb.discounts.errors import Unprocessable
from shopdb.errors import Conflict, NotFound


class GiftCardNotFound(NotFound):
    def __init__(self, gift_card_id: int) -> None:
        super().__init__(f"Gift card {gift_card_id} not found")


class GiftCardLookupMissed(NotFound):
    def __init__(self) -> None:
        super().__init__(
            "No gift card has this code", [{"field": "code", "message": "is not a gift card"}]
        )


class GiftCardCodeTaken(Conflict):
    code = "GIFT_CARD_CODE_TAKEN"

    def __init__(self) -> None:
        super().__init__(
            "Another gift card has this code",
            [{"field": "code", "message": "is already used by another gift card"}],
        )


class GiftCardUnknown(Unprocessable):
    code = "GIFT_CARD_NOT_FOUND"

    def __init__(self, field: str) -> None:
        super().__init__(
            "Unknown gift card code", [{"field": field, "message": "is not a gift card"}]
        )


class GiftCardDisabled(Unprocessable):
    code = "GIFT_CARD_DISABLED"

    def __init__(self, field: str, last_characters: str) -> None:
        super().__init__(
            f"Gift card ending in {last_characters} is disabled",
            [{"field": field, "message": "is disabled"}],
        )


class GiftCardExpired(Unprocessable):
    code = "GIFT_CARD_EXPIRED"

    def __init__(self, field: str, last_characters: str) -> None:
        super().__init__(
            f"Gift card ending in {last_characters} has expired",
            [{"field": field, "message": "has expired"}],
        )


class GiftCardCurrencyMismatch(Unprocessable):
    code = "GIFT_CARD_CURRENCY_MISMATCH"

    def __init__(self, field: str, last_characters: str, currency: str) -> None:
        super().__init__(
            f"Gift card ending in {last_characters} is in {currency}",
            [{"field": field, "message": f"is in {currency}, not the order's currency"}],
        )


class GiftCardEmpty(Unprocessable):
    code = "GIFT_CARD_EMPTY"

    def __init__(self, field: str, last_characters: str) -> None:
        super().__init__(
            f"Gift card ending in {last_characters} has no balance left",
            [{"field": field, "message": "has a balance of zero"}],
        )


class GiftCardListedTwice(Unprocessable):
    code = "GIFT_CARD_DUPLICATE"

    def __init__(self, field: str) -> None:
        super().__init__(
            "The same gift card is listed twice",
            [{"field": field, "message": "names a gift card listed before it"}],
        )


class GiftCardInsufficientFunds(Unprocessable):
    code = "GIFT_CARD_INSUFFICIENT_FUNDS"

    def __init__(self, balance: Decimal) -> None:
        super().__init__(
            f"The balance is {balance}: an adjustment cannot take it below zero",
            [{"field": "amount", "message": f"would take the balance ({balance}) below zero"}],
        )


class GiftCardLimitExceeded(Unprocessable):
    code = "GIFT_CARD_LIMIT_EXCEEDED"

    def __init__(self, maximum: Decimal, field: str = "amount") -> None:
        super().__init__(
            f"A gift card's balance cannot exceed {maximum}",
            [{"field": field, "message": f"would take the balance above {maximum}"}],
        )


class GiftCardDisabledForAdjustment(Unprocessable):
    code = "GIFT_CARD_DISABLED"

    def __init__(self, gift_card_id: int) -> None:
        super().__init__(
            f"Gift card {gift_card_id} is disabled; its balance no longer changes",
            [{"field": "id", "message": "is disabled"}],
        )


class GiftCardCustomerLocked(Unprocessable):
    code = "GIFT_CARD_CUSTOMER_LOCKED"

    def __init__(self) -> None:
        super().__init__(
            "A gift card's customer can be set only while it has none (as Shopify)",
            [{"field": "customerId", "message": "is already set and cannot change"}],
        )

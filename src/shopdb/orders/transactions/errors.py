"""The transaction rules' errors: each a 422 whose code names the rule that was broken."""

from __future__ import annotations

from decimal import Decimal

from shopdb.errors import ShopdbError


class TransactionRuleBroken(ShopdbError):
    status_code = 422
    code = "TRANSACTION_INVALID"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, [{"field": field, "message": message}])


class InvalidAmount(TransactionRuleBroken):
    code = "INVALID_AMOUNT"

    def __init__(self, message: str) -> None:
        super().__init__(message, "amount")


class CurrencyMismatch(TransactionRuleBroken):
    code = "CURRENCY_MISMATCH"

    def __init__(self, given: str, expected: str) -> None:
        super().__init__(f"The order is in {expected}, not {given}", "currency")


class ParentInvalid(TransactionRuleBroken):
    """parentId names no transaction of this order that the kind can act on."""

    code = "TRANSACTION_PARENT_INVALID"

    def __init__(self, message: str) -> None:
        super().__init__(message, "parentId")


class NothingToCapture(TransactionRuleBroken):
    code = "NOTHING_TO_CAPTURE"

    def __init__(self) -> None:
        super().__init__("The order has no authorization with an amount left to capture", "kind")


class CaptureExceedsAuthorized(TransactionRuleBroken):
    code = "CAPTURE_EXCEEDS_AUTHORIZED"

    def __init__(self, amount: Decimal, capturable: Decimal) -> None:
        super().__init__(
            f"Capturing {amount} exceeds what the authorization has left to capture ({capturable})",
            "amount",
        )


class NothingToVoid(TransactionRuleBroken):
    code = "NOTHING_TO_VOID"

    def __init__(self) -> None:
        super().__init__("The order has no authorization that can be voided", "kind")


class VoidCapturedAuthorization(TransactionRuleBroken):
    code = "VOID_CAPTURED_AUTHORIZATION"

    def __init__(self) -> None:
        super().__init__(
            "Only an authorization with nothing captured can be voided; refund the capture",
            "parentId",
        )


class AuthorizationVoided(TransactionRuleBroken):
    code = "AUTHORIZATION_VOIDED"

    def __init__(self) -> None:
        super().__init__("The authorization is voided already", "parentId")


class RefundExceedsCaptured(TransactionRuleBroken):
    code = "REFUND_EXCEEDS_CAPTURED"

    def __init__(self, amount: Decimal, refundable: Decimal) -> None:
        super().__init__(
            f"Refunding {amount} exceeds what was captured and not yet refunded ({refundable})",
            "amount",
        )


class AmountExceedsOutstanding(TransactionRuleBroken):
    code = "AMOUNT_EXCEEDS_OUTSTANDING"

    def __init__(self, amount: Decimal, outstanding: Decimal) -> None:
        super().__init__(
            f"{amount} exceeds what the order has outstanding ({outstanding})", "amount"
        )


class GatewayRequired(TransactionRuleBroken):
    code = "GATEWAY_REQUIRED"

    def __init__(self, message: str) -> None:
        super().__init__(message, "gateway")


class GatewayMismatch(TransactionRuleBroken):
    code = "GATEWAY_MISMATCH"

    def __init__(self, given: str, expected: str) -> None:
        super().__init__(f"The parent transaction went through {expected}, not {given}", "gateway")


class PaymentTokenRequired(TransactionRuleBroken):
    code = "PAYMENT_TOKEN_REQUIRED"

    def __init__(self, gateway: str) -> None:
        super().__init__(f"An authorization or sale through {gateway} needs a token", "token")


class OrderCancelled(TransactionRuleBroken):
    code = "ORDER_CANCELLED"

    def __init__(self) -> None:
        super().__init__("The order is cancelled: nothing more is charged on it", "kind")

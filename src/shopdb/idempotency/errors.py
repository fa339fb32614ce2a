"""The errors of the Idempotency-Key mechanism (rendered by the one handler in shopdb.errors)."""

from __future__ import annotations

from shopdb.errors import ShopdbError, ValidationFailed

HEADER = "Idempotency-Key"


class InvalidIdempotencyKey(ValidationFailed):
    """400: not 1..255 printable ASCII characters."""

    def __init__(self, problem: str) -> None:
        super().__init__("Validation failed", [{"field": HEADER, "message": problem}])


class IdempotencyKeyReused(ShopdbError):
    """422: the key already answered a different request (method, path, query or body)."""

    status_code = 422
    code = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was used for a different request; use a new key",
            [
                {
                    "field": HEADER,
                    "message": "already used with another method, path, query or body",
                }
            ],
        )


class IdempotencyKeyInUse(ShopdbError):
    """409: a request with this key is still running and did not finish in time to be replayed."""

    status_code = 409
    code = "IDEMPOTENCY_KEY_IN_USE"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still in progress; retry shortly",
            [{"field": HEADER, "message": "a request with this key is still in progress"}],
            headers={"Retry-After": "1"},
        )

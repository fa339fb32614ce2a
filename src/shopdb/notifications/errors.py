"""Why a message could not be sent, as the senders report it to the job handlers."""

from __future__ import annotations


class DeliveryRefused(Exception):
    """The mail server refused the message for good (a 5xx answer to its recipient): no retry
    can deliver it."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason

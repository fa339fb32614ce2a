"""Customers' typed errors: each carries its status, a stable code and the field it is about."""

from __future__ import annotations

from shopdb.errors import Conflict, NotFound, ValidationFailed


class EmailTaken(Conflict):
    code = "EMAIL_TAKEN"

    def __init__(self) -> None:
        # The email is not repeated: messages end up in logs, and it is personal data.
        super().__init__(
            "A customer with this email already exists",
            [{"field": "email", "message": "is already used by another customer"}],
        )


class GroupNameTaken(Conflict):
    code = "GROUP_NAME_TAKEN"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"A customer group named {name!r} already exists",
            [{"field": "name", "message": "is already used by another group (in any case)"}],
        )


class DefaultAddressRequired(ValidationFailed):
    """`isDefault: false` on the default address: a customer with addresses keeps one."""

    code = "DEFAULT_ADDRESS_REQUIRED"

    def __init__(self) -> None:
        super().__init__(
            "A customer with addresses always has a default address",
            [
                {
                    "field": "isDefault",
                    "message": "a customer with addresses always has a default; "
                    "make another the default",
                }
            ],
        )


class CustomerNotFound(NotFound):
    def __init__(self, customer_id: int) -> None:
        super().__init__(f"Customer {customer_id} not found")


class CustomerGroupNotFound(NotFound):
    def __init__(self, group_id: int) -> None:
        super().__init__(f"Customer group {group_id} not found")


class NotAMember(NotFound):
    def __init__(self, group_id: int, customer_id: int) -> None:
        super().__init__(f"Customer {customer_id} is not a member of group {group_id}")


class CustomerStateTransition(Conflict):
    """An account action that the customer's current state does not allow."""

    code = "CUSTOMER_STATE_TRANSITION"

    def __init__(self, customer_id: int, action: str, state: str, allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"Customer {customer_id} is {state}: {action} needs a customer who is "
            + " or ".join(allowed),
            [{"field": "state", "message": f"is {state}; {action} needs {' or '.join(allowed)}"}],
        )
        self.current_state = state


class CustomerHasOrders(Conflict):
    """Orders keep their customer: erasing one's personal data is redaction, not deletion."""

    code = "CUSTOMER_HAS_ORDERS"

    def __init__(self, customer_id: int) -> None:
        super().__init__(
            f"Customer {customer_id} has orders and cannot be deleted; "
            "redact the customer's personal data instead",
            [{"field": "id", "message": "has orders"}],
        )

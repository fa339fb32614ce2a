"""Users' typed errors: each carries its status, a stable code and the field it is about."""

from __future__ import annotations

from shopdb.errors import Conflict, NotFound


class EmailTaken(Conflict):
    code = "EMAIL_TAKEN"

    def __init__(self) -> None:
        # The address is not repeated back: the caller sent it, and error bodies get logged.
        super().__init__(
            "A user with this email already exists",
            [{"field": "email", "message": "is already used by another user"}],
        )


class CannotChangeSelf(Conflict):
    """Deactivating, demoting or deleting yourself is how shops lock themselves out."""

    code = "CANNOT_CHANGE_SELF"

    def __init__(self, field: str) -> None:
        action = {"active": "deactivate", "role": "demote", "id": "delete"}[field]
        super().__init__(
            f"You cannot {action} yourself; ask another administrator",
            [{"field": field, "message": f"you cannot {action} yourself"}],
        )


class UserHasOrders(Conflict):
    code = "USER_HAS_ORDERS"

    def __init__(self, user_id: int) -> None:
        super().__init__(
            f"User {user_id} is referenced by orders or transactions; deactivate it instead",
            [{"field": "id", "message": "is referenced by orders or transactions"}],
        )


class UserNotFound(NotFound):
    def __init__(self, user_id: int | None = None, *, field: str = "id") -> None:
        message = "User not found" if user_id is None else f"User {user_id} not found"
        super().__init__(message, [{"field": field, "message": "does not exist"}])


class GrantNotFound(NotFound):
    def __init__(self, user_id: int, permission: str) -> None:
        super().__init__(
            f"User {user_id} holds no grant of {permission}",
            [{"field": "permission", "message": "is not granted to this user"}],
        )

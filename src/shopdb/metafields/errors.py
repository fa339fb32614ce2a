"""Metafields' typed errors: each carries its status, a stable code and the field it is about."""

from __future__ import annotations

from shopdb.errors import Conflict, Forbidden, NotFound, ValidationFailed


class DefinitionTaken(Conflict):
    code = "DEFINITION_TAKEN"

    def __init__(self, owner_type: str, namespace: str, key: str) -> None:
        super().__init__(
            f"A definition for {owner_type} {namespace}.{key} already exists",
            [{"field": "key", "message": "is already defined for this owner type and namespace"}],
        )


class OwnerNotFound(ValidationFailed):
    """A write names an owner that does not exist: the body is wrong, so 400, not 404."""

    def __init__(self, owner_resource: str, owner_id: int) -> None:
        super().__init__(
            "Validation failed",
            [{"field": "ownerId", "message": f"no {owner_resource} with id {owner_id}"}],
        )


class MetafieldNotFound(NotFound):
    def __init__(self, metafield_id: int) -> None:
        super().__init__(f"Metafield {metafield_id} not found")


class DefinitionNotFound(NotFound):
    def __init__(self, definition_id: int) -> None:
        super().__init__(f"Metafield definition {definition_id} not found")


class OwnerPermissionRequired(Forbidden):
    """The caller holds metafields:* but not the permission of the owner's own domain."""

    def __init__(self, permission: str) -> None:
        # The shape of the Authenticator's own 403, so clients handle both alike.
        super().__init__(
            f"Missing permission: {permission}",
            [{"field": "permissions", "message": f"requires {permission}"}],
        )

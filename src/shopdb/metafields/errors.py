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


class DefinitionInUse(Conflict):
    """Smart collection rules name the definition: deleting it, or turning off its
    smartCollectionCondition capability, would silently empty those rules."""

    code = "DEFINITION_IN_USE"

    def __init__(self, collection_ids: list[int], field: str) -> None:
        shown = ", ".join(str(i) for i in collection_ids[:20])
        more = "" if len(collection_ids) <= 20 else f" and {len(collection_ids) - 20} more"
        super().__init__(
            f"Smart collections {shown}{more} use this definition in their rules",
            [
                {
                    "field": field,
                    "message": f"the rules of smart collections {shown}{more} use this "
                    "definition; change those rules first",
                }
            ],
        )


class MetafieldValueTaken(Conflict):
    """A metafield of type `id` holds a value unique among its owner type's metafields with
    the same namespace and key, as Shopify's `id` type ("a unique single-line text field")."""

    code = "METAFIELD_VALUE_TAKEN"

    def __init__(self, namespace: str, key: str) -> None:
        super().__init__(
            f"Another owner's {namespace}.{key} already holds this id",
            [{"field": "value", "message": "is already used by another owner's metafield"}],
        )

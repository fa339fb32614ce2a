"""Compliance's typed errors: each carries its status, a stable code and the field."""

from __future__ import annotations

from shopdb.errors import Conflict, NotFound, ValidationFailed


class ComplianceRecordNotFound(NotFound):
    def __init__(self, record_id: int) -> None:
        super().__init__(f"Compliance record {record_id} not found")


class RetentionPolicyNotFound(NotFound):
    def __init__(self, policy_id: int) -> None:
        super().__init__(f"Data retention policy {policy_id} not found")


class RetentionPolicyExists(Conflict):
    """One policy per entity type: a second would leave which period applies undecided."""

    code = "RETENTION_POLICY_EXISTS"

    def __init__(self, entity_type: str, existing_id: int | None = None) -> None:
        which = f" (policy {existing_id})" if existing_id is not None else ""
        super().__init__(
            f"A data retention policy for {entity_type} already exists{which}; "
            "change that one instead",
            [{"field": "entityType", "message": f"already has a policy{which}"}],
        )


class DeletionPolicyNotSupported(ValidationFailed):
    code = "DELETION_POLICY_NOT_SUPPORTED"

    def __init__(self, entity_type: str, policy: str, supported: tuple[str, ...]) -> None:
        message = f"{policy} is not available for {entity_type}; use one of {', '.join(supported)}"
        super().__init__(
            f"Validation failed: {message}", [{"field": "deletionPolicy", "message": message}]
        )

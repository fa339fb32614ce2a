"""Selling plans' typed errors: each carries its status, a stable code and the field it is about."""

from __future__ import annotations

from shopdb.errors import Conflict, NotFound, ShopdbError


class SellingPlanGroupNotFound(NotFound):
    def __init__(self, group_id: int) -> None:
        super().__init__(f"Selling plan group {group_id} not found")


class SellingPlanNotFound(NotFound):
    def __init__(self, group_id: int, plan_id: int) -> None:
        super().__init__(f"Selling plan {plan_id} not found in selling plan group {group_id}")


class SubscriptionContractNotFound(NotFound):
    def __init__(self, contract_id: int) -> None:
        super().__init__(f"Subscription contract {contract_id} not found")


class SellingPlanNotAvailable(ShopdbError):
    """An order line names a plan its product does not offer (or an inactive plan)."""

    status_code = 422
    code = "SELLING_PLAN_NOT_AVAILABLE"

    def __init__(self, field: str, plan_id: int, reason: str) -> None:
        super().__init__(
            f"Selling plan {plan_id} is not available for this line: {reason}",
            [{"field": field, "message": reason}],
        )


class SellingPlanInUse(Conflict):
    """Live (active or paused) subscription contracts bill through the plan for the product:
    cancel them first."""

    code = "SELLING_PLAN_IN_USE"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, [{"field": field, "message": message}])


class ContractStatusConflict(Conflict):
    """A transition that the contract's status does not allow (pause a cancelled one...)."""

    code = "INVALID_CONTRACT_STATUS"

    def __init__(self, contract_id: int, status: str, action: str) -> None:
        super().__init__(
            f"Subscription contract {contract_id} is {status}: it cannot be {action}",
            [{"field": "status", "message": f"is {status}"}],
        )


class ContractBillingMoved(Conflict):
    """The contract changed while its cycle was being billed (cancelled, paused, or billed by
    another worker): the order placed for the cycle is undone."""

    code = "CONTRACT_CHANGED"

    def __init__(self, contract_id: int) -> None:
        super().__init__(f"Subscription contract {contract_id} changed while it was billed")


class ContractUnbillable(ShopdbError):
    """What a contract renews is gone (its variant or its customer was deleted)."""

    status_code = 422
    code = "CONTRACT_UNBILLABLE"

    def __init__(self, reason: str) -> None:
        super().__init__(f"The subscription contract cannot be billed: {reason}")

"""B2B's typed errors: each carries its status, a stable code and the field it is about."""

from __future__ import annotations

from decimal import Decimal

from shopdb.errors import Conflict, NotFound, ValidationFailed


class CompanyNotFound(NotFound):
    def __init__(self, company_id: int) -> None:
        super().__init__(f"Company {company_id} not found")


class PaymentTermNotFound(NotFound):
    def __init__(self, company_id: int, term_id: int) -> None:
        super().__init__(f"Payment term {term_id} not found for company {company_id}")


class CreditLimitExceeded(Conflict):
    """A terms order would take the company's outstanding balance above its credit limit."""

    code = "CREDIT_LIMIT_EXCEEDED"

    def __init__(self, company_id: int, amount: Decimal, available: Decimal) -> None:
        super().__init__(
            f"Company {company_id} has {available} of credit available; the order needs {amount}",
            [
                {
                    "field": "companyId",
                    "message": f"credit available {available}, order total {amount}",
                }
            ],
        )


class CompanyInactive(Conflict):
    code = "COMPANY_INACTIVE"

    def __init__(self, company_id: int, status: str) -> None:
        super().__init__(
            f"Company {company_id} is {status}: it may not order on payment terms",
            [{"field": "companyId", "message": f"is {status}"}],
        )


class CompanyHasOutstandingBalance(Conflict):
    """A company whose terms orders still owe money is not deleted (its balance would go)."""

    code = "COMPANY_HAS_OUTSTANDING_BALANCE"

    def __init__(self, company_id: int, outstanding: Decimal) -> None:
        super().__init__(
            f"Company {company_id} still has {outstanding} outstanding on payment terms",
            [{"field": "outstandingBalance", "message": f"is {outstanding}, not 0"}],
        )


class TermsOrderInvalid(ValidationFailed):
    """An order on payment terms that cannot be placed as asked (400 naming the field)."""

    code = "VALIDATION_ERROR"

    def __init__(self, field: str, message: str) -> None:
        super().__init__("Validation failed", [{"field": field, "message": message}])

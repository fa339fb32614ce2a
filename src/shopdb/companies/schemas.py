"""B2B companies, their payment terms and balances on the wire (camelCase). Money is a decimal
string with two places; percentages are decimals from 0 to 100."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from shopdb.kit.schemas import CamelModel, InputModel
from shopdb.users.schemas import check_email

CompanyStatus = Literal["active", "inactive"]
CompanySort = Literal["id", "companyName", "createdAt", "updatedAt", "creditLimit"]
SortDirection = Literal["asc", "desc"]
TermsOrderState = Literal["outstanding", "overdue", "settled", "any"]

# The seed's columns: credit limits DECIMAL(15,2) and >= 0 (CHK_Companies_CreditLimit);
# percentages DECIMAL(5,2) from 0 to 100 (CHK_B2BPaymentTerms_Discount); net days > 0
# (CHK_B2BPaymentTerms_NetDays). Checked here, so a request breaking one is a 400 naming its
# field before the database would refuse it.
CreditLimit = Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=2, allow_inf_nan=False)]
Percentage = Annotated[
    Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2, allow_inf_nan=False)
]
NetDays = Annotated[int, Field(gt=0, le=3650)]
Days = Annotated[int, Field(ge=0, le=3650)]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Email = Annotated[str, Field(max_length=255), AfterValidator(check_email)]
Address = dict[str, Any]
Preferences = list[Annotated[str, Field(min_length=1, max_length=100)]]

COMPANY_READ_ONLY = InputModel.read_only | {"outstanding_balance", "version"}


class CompanyCreate(InputModel):
    """`paymentTerms`: a label (the seed's text column, e.g. "Net 30"); the terms orders use
    are the company's payment terms (/companies/{id}/payment-terms)."""

    read_only = COMPANY_READ_ONLY

    company_name: Name
    tax_id: str | None = Field(default=None, max_length=100)
    credit_limit: CreditLimit = Decimal(0)
    payment_terms: str | None = Field(default=None, max_length=100)
    billing_address: Address | None = None
    contact_email: Email | None = None
    contact_phone: str | None = Field(default=None, max_length=50)
    status: CompanyStatus = "active"


class CompanyUpdate(InputModel):
    """Only the fields sent change; `null` clears an optional field."""

    read_only = COMPANY_READ_ONLY

    company_name: Name | None = None
    tax_id: str | None = Field(default=None, max_length=100)
    credit_limit: CreditLimit | None = None
    payment_terms: str | None = Field(default=None, max_length=100)
    billing_address: Address | None = None
    contact_email: Email | None = None
    contact_phone: str | None = Field(default=None, max_length=50)
    status: CompanyStatus | None = None


class CompanyRead(CamelModel):
    id: int
    company_name: str
    tax_id: str | None
    credit_limit: Decimal
    outstanding_balance: Decimal
    payment_terms: str | None
    billing_address: Address | None
    contact_email: str | None
    contact_phone: str | None
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


TERM_READ_ONLY = InputModel.read_only | {"company_id"}


class PaymentTermCreate(InputModel):
    """`discountPercentage` off the amount due when the order is paid within
    `earlyPaymentDiscountDays` of being placed; `latePaymentFeePercentage` of the total added
    when it is paid after its due date (placed + `netDays`). `creditLimit` is the seed's
    column, kept as information: the company's creditLimit is the one enforced."""

    read_only = TERM_READ_ONLY

    net_days: NetDays = 30
    discount_percentage: Percentage = Decimal(0)
    credit_limit: CreditLimit = Decimal(0)
    payment_method_preferences: Preferences | None = Field(default=None, max_length=20)
    early_payment_discount_days: Days | None = None
    late_payment_fee_percentage: Percentage | None = None


class PaymentTermUpdate(InputModel):
    """Only the fields sent change; `null` clears an optional field. Orders already placed
    keep the term as it was (orders.payment_terms)."""

    read_only = TERM_READ_ONLY

    net_days: NetDays | None = None
    discount_percentage: Percentage | None = None
    credit_limit: CreditLimit | None = None
    payment_method_preferences: Preferences | None = Field(default=None, max_length=20)
    early_payment_discount_days: Days | None = None
    late_payment_fee_percentage: Percentage | None = None


class PaymentTermRead(CamelModel):
    id: int
    company_id: int
    net_days: int
    discount_percentage: Decimal
    credit_limit: Decimal
    payment_method_preferences: Any
    early_payment_discount_days: int | None
    late_payment_fee_percentage: Decimal | None
    created_at: datetime
    updated_at: datetime


class BalanceRead(CamelModel):
    """`outstanding`: what the company's unpaid terms orders still owe (the credit they hold);
    `overdue`: the part of it past its due date; `lateFees`: what paying those overdue orders
    now would add; `availableCredit`: creditLimit - outstanding, never below zero."""

    company_id: int
    currency: str
    credit_limit: Decimal
    outstanding: Decimal
    overdue: Decimal
    late_fees: Decimal
    available_credit: Decimal
    outstanding_orders: int
    overdue_orders: int
    as_of: datetime


class TermsOrderRead(CamelModel):
    """An order placed on payment terms, as its company's account sees it. `amountDue`: what
    paying it now would take (its total less what was paid, less the early-payment discount
    while it applies, plus the late fee once it is overdue)."""

    id: int
    number: str
    financial_status: str
    cancelled_at: datetime | None
    total_price: Decimal
    currency: str
    payment_terms_id: int | None
    payment_terms: dict[str, Any] | None
    processed_at: datetime | None
    payment_due_at: datetime | None
    credit_held: Decimal
    overdue: bool
    early_payment_discount: Decimal
    late_fee: Decimal
    amount_due: Decimal

"""Discount codes: administration (CRUD, lookup) and what checkout calls.

Checkout's functions run in the caller's transaction and never commit:
`redeem_discount_code` counts a use with one guarded UPDATE (repository.redeem), so a code
limited to N uses is used exactly N times however many orders race for it;
`release_discount_code` gives a use back; `preview_discount_code` applies the same rules
without counting (pricing a checkout); `price_discount` is the arithmetic alone.

Amounts are rounded to cents with ROUND_HALF_UP and never exceed the subtotal, so a discount
never makes a total negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.discounts.errors import (
    DiscountCodeLookupMissed,
    DiscountCodeNotActive,
    DiscountCodeNotFound,
    DiscountCodeTaken,
    DiscountCodeUnknown,
    DiscountCurrencyMismatch,
    DiscountMinimumNotMet,
    DiscountUsageLimitReached,
    UsageLimitBelowUses,
)
from shopdb.discounts.repository import DiscountCodeRepository, DiscountFilter
from shopdb.discounts.schemas import DiscountCodeCreate
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.etags import check_if_match
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.kit.types import MONEY_QUANTUM, utcnow
from shopdb.models import DiscountCode

FIELD = "discountCode"
HUNDRED = Decimal(100)
ZERO = Decimal("0.00")
# The fields an update may change, as the model names them.
EDITABLE = (
    "code",
    "type",
    "value",
    "currency",
    "minimum_amount",
    "starts_at",
    "ends_at",
    "usage_limit",
)


@dataclass(frozen=True)
class DiscountApplication:
    discount_code_id: int
    code: str  # as stored
    type: str  # percentage | fixed_amount | free_shipping
    value: Decimal
    amount: Decimal  # off the subtotal, in cents, never above it; 0 for free shipping
    free_shipping: bool


def round_cents(amount: Decimal) -> Decimal:
    return amount.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP)


def status_of(code: DiscountCode, now: datetime) -> str:
    """Shopify's discount status: scheduled before its start, expired from its end."""
    if code.starts_at is not None and code.starts_at > now:
        return "scheduled"
    if code.ends_at is not None and code.ends_at <= now:
        return "expired"
    return "active"


def _amount(type_: str, value: Decimal, subtotal: Decimal) -> Decimal:
    if subtotal <= 0 or type_ == "free_shipping":
        return ZERO
    if type_ == "percentage":
        off = round_cents(subtotal * value / HUNDRED)
    else:
        off = round_cents(value)
    return min(off, round_cents(subtotal))


def price_discount(code: DiscountCode, *, subtotal: Decimal, currency: str) -> Decimal:
    """What `code` takes off `subtotal` (pure: no rule about dates, minimum or uses).

    A code restricted to another currency is refused (`DISCOUNT_CURRENCY_MISMATCH`).
    """
    if code.currency is not None and code.currency != currency:
        raise DiscountCurrencyMismatch(FIELD, code.currency)
    return _amount(code.type, Decimal(code.value), subtotal)


def _check_applies(
    code: DiscountCode, *, subtotal: Decimal, currency: str, now: datetime, field: str
) -> None:
    """Every rule but the usage limit, in the order a customer can act on them."""
    state = status_of(code, now)
    if state != "active":
        raise DiscountCodeNotActive(field, scheduled=state == "scheduled")
    if code.currency is not None and code.currency != currency:
        raise DiscountCurrencyMismatch(field, code.currency)
    if code.minimum_amount is not None and subtotal < code.minimum_amount:
        raise DiscountMinimumNotMet(field, Decimal(code.minimum_amount))


def _application(
    discount_code_id: int, code: str, type_: str, value: Decimal, subtotal: Decimal
) -> DiscountApplication:
    return DiscountApplication(
        discount_code_id=discount_code_id,
        code=code,
        type=type_,
        value=value,
        amount=_amount(type_, value, subtotal),
        free_shipping=type_ == "free_shipping",
    )


async def preview_discount_code(
    session: AsyncSession,
    code: str,
    *,
    subtotal: Decimal,
    currency: str,
    now: datetime,
    field: str = FIELD,
) -> DiscountApplication:
    """The discount `code` would give, with every rule checked, without counting a use."""
    found = await DiscountCodeRepository(session).find_by_code(code.strip())
    if found is None:
        raise DiscountCodeUnknown(field)
    _check_applies(found, subtotal=subtotal, currency=currency, now=now, field=field)
    if found.usage_limit is not None and found.used_count >= found.usage_limit:
        raise DiscountUsageLimitReached(field)
    return _application(found.id, found.code, found.type, Decimal(found.value), subtotal)


async def redeem_discount_code(
    session: AsyncSession,
    code: str,
    *,
    subtotal: Decimal,
    currency: str,
    now: datetime,
    field: str = FIELD,
) -> DiscountApplication:
    """Count one use of `code` and say what it takes off; refused with the rule it breaks.

    The happy path is one statement (the guarded UPDATE ... RETURNING); only a refusal reads
    the code to say why. A refusal that no rule explains was a race with a release: tried once
    more, then the limit is what refused it.
    """
    repository = DiscountCodeRepository(session)
    wanted = code.strip()
    for _attempt in range(2):
        redeemed = await repository.redeem(wanted, subtotal=subtotal, currency=currency, now=now)
        if redeemed is not None:
            return _application(redeemed.id, redeemed.code, redeemed.type, redeemed.value, subtotal)
        found = await repository.find_by_code(wanted)
        if found is None:
            raise DiscountCodeUnknown(field)
        _check_applies(found, subtotal=subtotal, currency=currency, now=now, field=field)
        if found.usage_limit is not None and found.used_count >= found.usage_limit:
            break
    raise DiscountUsageLimitReached(field)


async def release_discount_code(session: AsyncSession, discount_code_id: int) -> None:
    """Give back one use (the order that counted it did not happen); never below zero."""
    await DiscountCodeRepository(session).release(discount_code_id)


# --- administration ---------------------------------------------------------------------------


def check_rules(values: dict[str, Any]) -> None:
    """The rules between fields, on the code as it would be stored (400 naming the field)."""
    type_, value = values["type"], values["value"]
    if type_ == "percentage":
        if value is None or not (0 < value <= HUNDRED):
            raise ValidationFailed.on("value", "a percentage must be above 0 and at most 100")
    elif type_ == "fixed_amount":
        if value is None or value <= 0:
            raise ValidationFailed.on("value", "a fixed amount must be above 0")
        if values["currency"] is None:
            raise ValidationFailed.on("currency", "is required for a fixed amount")
    elif value not in (None, 0):
        raise ValidationFailed.on("value", "free shipping takes no value")
    starts_at, ends_at = values["starts_at"], values["ends_at"]
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise ValidationFailed.on("endsAt", "must be after startsAt")


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    stored = dict(values)
    if stored["type"] == "free_shipping":
        stored["value"] = ZERO
    stored["value"] = round_cents(Decimal(stored["value"]))
    return stored


def _event_body(code: DiscountCode) -> dict[str, Any]:
    return {
        "id": code.id,
        "code": code.code,
        "type": code.type,
        "value": str(code.value),
        "usageLimit": code.usage_limit,
    }


async def load_discount_code(session: AsyncSession, discount_code_id: int) -> DiscountCode:
    found = await DiscountCodeRepository(session).get(discount_code_id)
    if found is None:
        raise DiscountCodeNotFound(discount_code_id)
    return found


async def lookup_discount_code(session: AsyncSession, code: str) -> DiscountCode:
    """The live code equal to `code` in any letter case (404 otherwise)."""
    found = await DiscountCodeRepository(session).find_by_code(code.strip())
    if found is None:
        raise DiscountCodeLookupMissed
    return found


async def list_discount_codes(
    session: AsyncSession, where: DiscountFilter, *, request: PageRequest, now: datetime
) -> RowsPage[DiscountCode]:
    return await DiscountCodeRepository(session).page(where, now=now, request=request)


async def create_discount_code(
    session: AsyncSession, actor: Subject, data: DiscountCodeCreate
) -> DiscountCode:
    values = data.model_dump(by_alias=False)
    check_rules(values)
    repository = DiscountCodeRepository(session)
    if await repository.code_taken(data.code):
        raise DiscountCodeTaken(data.code)
    code = await repository.add(DiscountCode(**_stored(values), used_count=0))
    record_event(
        session,
        topic="discounts/create",
        subject_type="DiscountCode",
        subject_id=code.id,
        body=_event_body(code),
        actor=actor.principal,
    )
    return code


async def update_discount_code(
    session: AsyncSession,
    actor: Subject,
    discount_code_id: int,
    changes: dict[str, Any],
    *,
    if_match: str | None,
) -> DiscountCode:
    """Apply the fields present in `changes` (snake_case); a change that changes nothing
    writes nothing (same version, no event)."""
    repository = DiscountCodeRepository(session)
    code = await load_discount_code(session, discount_code_id)
    check_if_match(if_match, code.version)
    for required in ("code", "type"):
        if required in changes and changes[required] is None:
            raise ValidationFailed.on(required, "must not be null")
    merged = {name: getattr(code, name) for name in EDITABLE}
    merged.update({k: v for k, v in changes.items() if k in EDITABLE})
    if "type" in changes and changes["type"] != code.type and "value" not in changes:
        merged["value"] = None  # a new type needs its own value
    check_rules(merged)
    stored = _stored(merged)
    if stored["usage_limit"] is not None and stored["usage_limit"] < code.used_count:
        raise UsageLimitBelowUses(code.used_count)
    if stored["code"] != code.code and await repository.code_taken(
        stored["code"], except_id=code.id
    ):
        raise DiscountCodeTaken(stored["code"])
    changed = sorted(name for name in EDITABLE if stored[name] != getattr(code, name))
    if not changed:
        return code
    for name in changed:
        setattr(code, name, stored[name])
    await session.flush()
    record_event(
        session,
        topic="discounts/update",
        subject_type="DiscountCode",
        subject_id=code.id,
        body={**_event_body(code), "changed": [_camel(name) for name in changed]},
        actor=actor.principal,
    )
    return code


async def delete_discount_code(
    session: AsyncSession, actor: Subject, discount_code_id: int, *, if_match: str | None
) -> None:
    """Soft delete: checkout no longer finds it; orders that used it keep its code."""
    code = await load_discount_code(session, discount_code_id)
    check_if_match(if_match, code.version)
    code.deleted_at = utcnow()
    await session.flush()
    record_event(
        session,
        topic="discounts/delete",
        subject_type="DiscountCode",
        subject_id=code.id,
        body={"id": code.id, "code": code.code},
        actor=actor.principal,
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)

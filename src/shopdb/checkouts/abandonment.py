"""Abandoned checkouts: marking them, keeping their two tables in step, listing them.

A checkout not completed `checkout_abandon_after_seconds` (10 h by default) after its last
update is abandoned. Two seed tables hold abandoned checkouts:

- `abandoned_checkouts_enhanced` is the source of truth: the checkout as it was abandoned
  (Shopify's AbandonedCheckout: lines, addresses, totals, recovery URL), `completed_at` once
  it was recovered. GET /api/v1/abandoned-checkouts reads it.
- `abandoned_checkouts` is its summary mirror (email, customer, total, currency,
  `abandoned_at`, `recovered_at`), one row per checkout, found by `token`.

Both are written in the same transaction, always together: when the checkout is abandoned,
when it is updated after that (the snapshot follows it) and when it is completed (recovered).
Emails are sealed in both, each under its own cipher context, with the same blind index.

The job `checkouts/mark_abandoned`: each checkout queues one when it is created, due when it
would be abandoned. The job marks every checkout then due (in batches of SWEEP, each batch
its own transaction, so one lost job row cannot leave a checkout unmarked while others run);
if its own checkout was updated since, it queues itself again for the new due time; if a
batch was full, it queues another run right away. Marking a checkout queues its recovery
email (`checkouts/recovery_email`, sent by shopdb.notifications) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.checkouts.repository import AbandonedFilters, CheckoutRepository
from shopdb.checkouts.schemas import AbandonedCheckoutRead
from shopdb.checkouts.settings import CheckoutSettings
from shopdb.jobs.kinds import CHECKOUTS_MARK_ABANDONED, CHECKOUTS_RECOVERY_EMAIL
from shopdb.jobs.queue import RunningJob, enqueue
from shopdb.jobs.runner import JobContext, Registration
from shopdb.keys import field_cipher
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.kit.types import utcnow
from shopdb.models.checkouts import CHECKOUT_EMAIL, Checkout

ENHANCED_EMAIL = "abandoned_checkouts_enhanced.email"
MIRROR_EMAIL = "abandoned_checkouts.email"
SWEEP = 100
# abandoned_checkouts_enhanced.total_weight is NUMERIC(8, 2) (grams, as Shopify's): a heavier
# cart is recorded at the column's limit rather than failing the job forever.
MAX_WEIGHT = Decimal("999999.99")

log = structlog.get_logger(__name__)


def _snapshot(
    cipher: FieldCipher, config: CheckoutSettings, checkout: Checkout
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (enhanced, mirror) columns that follow the checkout."""
    email = cipher.decrypt(checkout.email, context=CHECKOUT_EMAIL)
    discount_codes = (
        []
        if checkout.discount_code is None
        else [{"code": checkout.discount_code, "amount": str(checkout.total_discounts)}]
    )
    enhanced = {
        "email": cipher.encrypt(email, context=ENHANCED_EMAIL),
        "email_hash": checkout.email_hash,
        "customer_id": checkout.customer_id,
        "currency": checkout.currency,
        "presentment_currency": checkout.currency,
        "line_items": checkout.line_items,
        "shipping_address": checkout.shipping_address,
        "billing_address": checkout.billing_address,
        "discount_codes": discount_codes,
        "shipping_line": checkout.shipping_line,
        "tax_lines": checkout.tax_lines or [],
        "note": checkout.note,
        "subtotal_price": checkout.subtotal_price,
        "total_line_items_price": checkout.subtotal_price,
        "total_discounts": checkout.total_discounts,
        "total_tax": checkout.total_tax,
        "total_price": checkout.total_price,
        "total_weight": min(Decimal(checkout.total_weight), MAX_WEIGHT),
        "taxes_included": checkout.taxes_included,
        "abandoned_checkout_url": config.recovery_url(checkout.token),
        "updated_at": checkout.updated_at,
    }
    mirror = {
        "email": cipher.encrypt(email, context=MIRROR_EMAIL),
        "email_hash": checkout.email_hash,
        "customer_id": checkout.customer_id,
        "total_price": checkout.total_price,
        "currency": checkout.currency,
    }
    return enhanced, mirror


async def record_abandoned(
    session: AsyncSession,
    cipher: FieldCipher,
    config: CheckoutSettings,
    checkout: Checkout,
    now: datetime,
) -> None:
    """Write the just-abandoned `checkout` to both tables (the caller's transaction)."""
    enhanced, mirror = _snapshot(cipher, config, checkout)
    enhanced.update(
        token=checkout.token,
        source_name="api",
        created_at=checkout.created_at,
        completed_at=None,
    )
    mirror.update(
        token=checkout.token, abandoned_at=now, recovered_at=None, created_at=checkout.created_at
    )
    await CheckoutRepository(session).insert_abandoned(enhanced, mirror)


async def refresh_abandoned(
    session: AsyncSession, cipher: FieldCipher, config: CheckoutSettings, checkout: Checkout
) -> None:
    """An abandoned checkout was updated: both tables follow it."""
    enhanced, mirror = _snapshot(cipher, config, checkout)
    await CheckoutRepository(session).update_abandoned(checkout.token, enhanced, mirror)


async def mark_abandoned_checkouts(
    session: AsyncSession,
    cipher: FieldCipher,
    config: CheckoutSettings,
    *,
    now: datetime | None = None,
    limit: int = SWEEP,
) -> list[int]:
    """Mark up to `limit` checkouts due now as abandoned; the ids marked. Idempotent: a
    checkout is marked once (guarded UPDATE), whoever else runs at the same time."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=config.checkout_abandon_after_seconds)
    repository = CheckoutRepository(session)
    marked: list[int] = []
    for checkout_id in await repository.due_for_abandonment(cutoff, limit):
        if not await repository.mark_abandoned(checkout_id, cutoff, now):
            continue  # updated, completed or marked by someone else meanwhile
        checkout = await repository.get(checkout_id)
        assert checkout is not None
        await record_abandoned(session, cipher, config, checkout, now)
        # Queued with the marking, so each abandoned checkout gets its email once.
        await enqueue(
            session, CHECKOUTS_RECOVERY_EMAIL, {"checkoutId": checkout_id, "token": checkout.token}
        )
        marked.append(checkout_id)
    return marked


async def recover_abandoned(session: AsyncSession, token: str, now: datetime) -> None:
    await CheckoutRepository(session).recover_abandoned(token, now)


# --- the job ------------------------------------------------------------------------------


async def run_mark_abandoned(
    context: JobContext,
    job: RunningJob,
    *,
    config: CheckoutSettings | None = None,
    now: datetime | None = None,
) -> Mapping[str, Any] | None:
    config = config or CheckoutSettings.from_settings(context.settings)
    now = now or utcnow()
    cipher = field_cipher(context.settings)
    database = context.database
    marked = 0
    full = False
    while True:
        async with database.session() as session:
            batch = await mark_abandoned_checkouts(session, cipher, config, now=now, limit=SWEEP)
        marked += len(batch)
        if len(batch) < SWEEP:
            break
        if marked >= SWEEP * 10:
            full = True  # enough for one run: the next one continues
            break
    checkout_id = job.payload.get("checkoutId")
    async with database.session() as session:
        if full:
            await enqueue(session, CHECKOUTS_MARK_ABANDONED, {})
        if isinstance(checkout_id, int):
            found = await CheckoutRepository(session).updated_at(checkout_id)
            if found is not None and found[1]:
                # Updated since this job was queued: come back when it would be due.
                due = found[0] + timedelta(seconds=config.checkout_abandon_after_seconds)
                await enqueue(
                    session, CHECKOUTS_MARK_ABANDONED, {"checkoutId": checkout_id}, run_after=due
                )
    return {"abandoned": marked}


async def _mark_abandoned(context: JobContext, job: RunningJob) -> Mapping[str, Any] | None:
    return await run_mark_abandoned(context, job)


MARK_ABANDONED = Registration(CHECKOUTS_MARK_ABANDONED, _mark_abandoned)


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AbandonedQuery:
    status: str = "any"
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None
    updated_at_min: datetime | None = None
    updated_at_max: datetime | None = None


def _email(cipher: FieldCipher, row: Any) -> str | None:
    if row.email is None:
        return None
    if row.email_hash is None:
        return str(row.email)  # a seed row from before sealing
    return cipher.decrypt(row.email, context=ENHANCED_EMAIL)


def abandoned_read(cipher: FieldCipher, row: Any) -> AbandonedCheckoutRead:
    return AbandonedCheckoutRead(
        id=row.id,
        token=row.token,
        status="open" if row.completed_at is None else "recovered",
        email=_email(cipher, row),
        customer_id=row.customer_id,
        currency=row.currency,
        line_items=row.line_items or [],
        shipping_address=row.shipping_address,
        billing_address=row.billing_address,
        discount_codes=row.discount_codes or [],
        shipping_line=row.shipping_line,
        tax_lines=row.tax_lines or [],
        subtotal_price=row.subtotal_price,
        total_line_items_price=row.total_line_items_price,
        total_discounts=row.total_discounts,
        total_tax=row.total_tax,
        total_price=row.total_price,
        taxes_included=row.taxes_included,
        recovery_url=row.abandoned_checkout_url,
        completed_at=row.completed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def list_abandoned(
    session: AsyncSession, cipher: FieldCipher, query: AbandonedQuery, page: PageRequest
) -> RowsPage[AbandonedCheckoutRead]:
    filters = AbandonedFilters(
        status=query.status,
        created_at_min=query.created_at_min,
        created_at_max=query.created_at_max,
        updated_at_min=query.updated_at_min,
        updated_at_max=query.updated_at_max,
    )
    found = await CheckoutRepository(session).abandoned_page(filters, page)
    return RowsPage(
        [abandoned_read(cipher, row) for row in found.rows], found.next_cursor, found.total
    )

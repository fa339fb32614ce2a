"""Every SELECT and UPDATE of checkouts and of the two abandoned-checkout tables.

The abandoned-checkout tables are addressed as Core tables naming exactly the columns used
here, two of which (`email_hash` on both, `token` on abandoned_checkouts) come from this
domain's migration (0018_checkouts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.pagination import PageRequest, RowsPage, read_requested_page
from shopdb.kit.types import BigIntId, JSONType, Money, UTCDateTime
from shopdb.models.checkouts import Checkout

ENHANCED = sa.table(
    "abandoned_checkouts_enhanced",
    sa.column("id", BigIntId),
    sa.column("token", sa.String()),
    sa.column("email", sa.String()),
    sa.column("email_hash", sa.String()),
    sa.column("customer_id", BigIntId),
    sa.column("currency", sa.String()),
    sa.column("presentment_currency", sa.String()),
    sa.column("line_items", JSONType),
    sa.column("shipping_address", JSONType),
    sa.column("billing_address", JSONType),
    sa.column("discount_codes", JSONType),
    sa.column("shipping_line", JSONType),
    sa.column("tax_lines", JSONType),
    sa.column("note", sa.Text()),
    sa.column("subtotal_price", Money(10, 2)),
    sa.column("total_line_items_price", Money(10, 2)),
    sa.column("total_discounts", Money(10, 2)),
    sa.column("total_tax", Money(10, 2)),
    sa.column("total_price", Money(10, 2)),
    sa.column("total_weight", Money(8, 2)),
    sa.column("taxes_included", sa.Boolean()),
    sa.column("abandoned_checkout_url", sa.String()),
    sa.column("source_name", sa.String()),
    sa.column("completed_at", UTCDateTime()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
MIRROR = sa.table(
    "abandoned_checkouts",
    sa.column("id", BigIntId),
    sa.column("token", sa.String()),
    sa.column("email", sa.String()),
    sa.column("email_hash", sa.String()),
    sa.column("customer_id", BigIntId),
    sa.column("total_price", Money(10, 2)),
    sa.column("currency", sa.String()),
    sa.column("abandoned_at", UTCDateTime()),
    sa.column("recovered_at", UTCDateTime()),
    sa.column("created_at", UTCDateTime()),
)


# Bookkeeping writes (a completion's claim, the abandonment mark) are not the buyer's activity:
# they keep updated_at, which the column's onupdate default would otherwise move (and with it
# the abandonment clock).
KEEP_UPDATED_AT = Checkout.updated_at


@dataclass(frozen=True)
class AbandonedFilters:
    status: str = "any"  # open, recovered, any
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None
    updated_at_min: datetime | None = None
    updated_at_max: datetime | None = None


class CheckoutRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- checkouts ----------------------------------------------------------------------

    async def add(self, checkout: Checkout) -> None:
        self.session.add(checkout)
        await self.session.flush()

    async def by_token(self, token: str) -> Checkout | None:
        statement = select(Checkout).where(Checkout.token == token)
        found: Checkout | None = await self.session.scalar(
            statement.execution_options(populate_existing=True)
        )
        return found

    async def updated_at(self, checkout_id: int) -> tuple[datetime, bool] | None:
        """(updated_at, still pending) of a checkout: pending is neither completed nor
        abandoned."""
        row = (
            await self.session.execute(
                select(
                    Checkout.updated_at,
                    Checkout.completed_at.is_(None) & Checkout.abandoned_at.is_(None),
                ).where(Checkout.id == checkout_id)
            )
        ).one_or_none()
        return None if row is None else (row[0], bool(row[1]))

    async def claim_completion(self, checkout_id: int, now: datetime, until: datetime) -> bool:
        """Take the checkout for one completion (until `until`), unless it is completed or
        another completion holds it: one guarded UPDATE, so two requests never both win."""
        result = await self.session.execute(
            update(Checkout)
            .where(
                Checkout.id == checkout_id,
                Checkout.completed_at.is_(None),
                sa.or_(Checkout.completing_until.is_(None), Checkout.completing_until < now),
            )
            .values(completing_until=until, updated_at=KEEP_UPDATED_AT)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def release_completion(self, checkout_id: int) -> None:
        await self.session.execute(
            update(Checkout)
            .where(Checkout.id == checkout_id, Checkout.completed_at.is_(None))
            .values(completing_until=None, updated_at=KEEP_UPDATED_AT)
            .execution_options(synchronize_session=False)
        )

    async def mark_completed(
        self, checkout_id: int, order_id: int, now: datetime, totals: Mapping[str, Any]
    ) -> tuple[str, datetime | None] | None:
        """Record the order; `recovered_at` too when the checkout had been abandoned. The
        (token, abandoned_at) it had, or None when it was completed already."""
        row = (
            await self.session.execute(
                update(Checkout)
                .where(Checkout.id == checkout_id, Checkout.completed_at.is_(None))
                .values(
                    completed_at=now,
                    order_id=order_id,
                    completing_until=None,
                    recovered_at=sa.case(
                        (Checkout.abandoned_at.is_not(None), sa.literal(now, UTCDateTime())),
                        else_=sa.null(),
                    ),
                    version=Checkout.version + 1,
                    updated_at=now,
                    **totals,
                )
                .returning(Checkout.token, Checkout.abandoned_at)
                .execution_options(synchronize_session=False)
            )
        ).one_or_none()
        return None if row is None else (row[0], row[1])

    async def due_for_abandonment(self, cutoff: datetime, limit: int) -> list[int]:
        """Pending checkouts last updated at or before `cutoff`, oldest first (the partial
        index ix_checkouts_pending_updated_at)."""
        rows = await self.session.scalars(
            select(Checkout.id)
            .where(
                Checkout.completed_at.is_(None),
                Checkout.abandoned_at.is_(None),
                Checkout.updated_at <= cutoff,
            )
            .order_by(Checkout.updated_at, Checkout.id)
            .limit(limit)
        )
        return list(rows)

    async def mark_abandoned(self, checkout_id: int, cutoff: datetime, now: datetime) -> bool:
        """Guarded: only a pending checkout still not updated since `cutoff`, and not being
        completed, is marked (a concurrent update or completion wins)."""
        result = await self.session.execute(
            update(Checkout)
            .where(
                Checkout.id == checkout_id,
                Checkout.completed_at.is_(None),
                Checkout.abandoned_at.is_(None),
                Checkout.updated_at <= cutoff,
                sa.or_(Checkout.completing_until.is_(None), Checkout.completing_until < now),
            )
            .values(abandoned_at=now, updated_at=KEEP_UPDATED_AT)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def get(self, checkout_id: int) -> Checkout | None:
        found: Checkout | None = await self.session.get(
            Checkout, checkout_id, populate_existing=True
        )
        return found

    # --- abandoned checkouts ------------------------------------------------------------

    async def insert_abandoned(
        self, enhanced: Mapping[str, Any], mirror: Mapping[str, Any]
    ) -> None:
        await self.session.execute(sa.insert(ENHANCED).values(**enhanced))
        await self.session.execute(sa.insert(MIRROR).values(**mirror))

    async def update_abandoned(
        self, token: str, enhanced: Mapping[str, Any], mirror: Mapping[str, Any]
    ) -> None:
        await self.session.execute(
            sa.update(ENHANCED).where(ENHANCED.c.token == token).values(**enhanced)
        )
        await self.session.execute(
            sa.update(MIRROR).where(MIRROR.c.token == token).values(**mirror)
        )

    async def recover_abandoned(self, token: str, now: datetime) -> None:
        await self.update_abandoned(
            token, {"completed_at": now, "updated_at": now}, {"recovered_at": now}
        )

    async def abandoned_page(self, filters: AbandonedFilters, page: PageRequest) -> RowsPage[Any]:
        """A page of abandoned checkouts (the enhanced table), by id ascending."""
        statement = select(*ENHANCED.c)
        if filters.status == "open":
            statement = statement.where(ENHANCED.c.completed_at.is_(None))
        elif filters.status == "recovered":
            statement = statement.where(ENHANCED.c.completed_at.is_not(None))
        for column, low, high in (
            (ENHANCED.c.created_at, filters.created_at_min, filters.created_at_max),
            (ENHANCED.c.updated_at, filters.updated_at_min, filters.updated_at_max),
        ):
            if low is not None:
                statement = statement.where(column >= low)
            if high is not None:
                statement = statement.where(column <= high)
        return await read_requested_page(
            self.session,
            statement,
            page,
            sort_column=ENHANCED.c.id,
            id_column=ENHANCED.c.id,
            direction="asc",
            sort_name="id",
            key_type=int,
        )

"""Every query on webhooks and webhook_deliveries: the API's, and the sender's claim and
fenced writes.

The sender claims due deliveries in one statement. On PostgreSQL the rows are locked `FOR
UPDATE SKIP LOCKED`, so concurrent workers take different deliveries and never wait on each
other; on SQLite writers are serialised (every unit of work begins IMMEDIATE). A claimed
delivery is leased (`locked_by`, `locked_until`): a worker killed mid-send leaves it to be
claimed again once the lease lapses. Each claim counts an attempt, and the attempt number is
the fence of the outcome's write: a worker whose lease lapsed and was taken over matches no
row, and its outcome is dropped (the receiver may have the delivery twice: at least once).

The claim takes at most `room[webhook_id]` deliveries of each subscription (what that worker
may still have in flight for it), the subscriptions' oldest first, taking turns: one slow
receiver holds only its own share of a worker's slots.

Lease times use the database's clock on PostgreSQL (`clock_timestamp()`), as the job queue's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Integer,
    Interval,
    Select,
    String,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shopdb.kit import prepared
from shopdb.kit.pagination import PageRequest, RowsPage, read_requested_page
from shopdb.kit.sql import in_constants
from shopdb.kit.types import UTCDateTime, utcnow
from shopdb.models import Webhook, WebhookDelivery

D = WebhookDelivery
W = Webhook
_DUE_STATUSES = ("pending", "failed")


@dataclass(frozen=True)
class SentOutcome:
    """A successful attempt to write: the delivery, the attempt (the fence), the answer."""

    id: int
    webhook_id: int
    attempt: int
    status_code: int
    duration_ms: int
    attempt_log: list[dict[str, Any]]


# PostgreSQL: every successful attempt of a batch in one UPDATE, from parallel arrays; and, in
# the same statement, a success resets its subscription's run of failures (locking no webhooks
# row that has none to reset): one round trip per batch.
_RECORD_SUCCESSES = text(
    """
    WITH done AS (
        UPDATE webhook_deliveries AS d
        SET status = 'succeeded',
            delivered_at = clock_timestamp(),
            last_attempt_at = clock_timestamp(),
            next_attempt_at = NULL,
            locked_by = NULL,
            locked_until = NULL,
            response_status = v.status_code,
            duration_ms = v.duration_ms,
            last_error = NULL,
            attempt_log = CAST(v.attempt_log AS jsonb)
        FROM unnest(
            CAST(:ids AS bigint[]),
            CAST(:attempts AS integer[]),
            CAST(:statuses AS integer[]),
            CAST(:durations AS integer[]),
            CAST(:logs AS text[])
        ) AS v(id, attempt, status_code, duration_ms, attempt_log)
        WHERE d.id = v.id AND d.locked_by = :owner AND d.attempts = v.attempt
        RETURNING d.id, d.webhook_id
    ),
    reset AS (
        UPDATE webhooks SET consecutive_failures = 0
        WHERE id IN (SELECT webhook_id FROM done) AND consecutive_failures <> 0
    )
    SELECT id FROM done
    """
)


_CLAIMED = (
    D.id,
    D.webhook_id,
    D.event_id,
    D.topic,
    D.payload,
    D.attempts,
    D.created_at,
    D.attempt_log,
)


@cache
def _postgres_claim() -> Any:
    """PostgreSQL's claim: each active subscription's first due deliveries (a LATERAL read of
    the front of its range in ix_webhook_deliveries_to_send), as many as its share (its
    `room_shares` entry, else `per_subscription`), taking turns, `claim_limit` in all, each
    locked SKIP LOCKED and leased to `owner` for `lease`."""
    now = func.clock_timestamp()
    due = and_(
        # Constants in the SQL: only then can a prepared statement's generic plan use
        # ix_webhook_deliveries_to_send, whose predicate they must imply. With parameters (and
        # no statistics, as on a new table) PostgreSQL read every delivery of the subscription
        # through its (webhook_id, event_id) index at each claim.
        in_constants(D.status, _DUE_STATUSES),
        D.next_attempt_at <= now,
        or_(D.locked_until.is_(None), D.locked_until < now),
    )
    # The worker's own limits per subscription: (webhook id, room) pairs, joined by id.
    rooms = (
        func.unnest(
            bindparam("room_ids", type_=ARRAY(BigInteger)),
            bindparam("room_shares", type_=ARRAY(Integer)),
        )
        .table_valued("id", "n")
        .render_derived(name="rooms")
    )
    share = func.coalesce(rooms.c.n, bindparam("per_subscription", type_=Integer))
    front = (
        select(
            D.id.label("id"),
            func.row_number().over(order_by=(D.next_attempt_at, D.id)).label("turn"),
        )
        .where(D.webhook_id == W.id, due)
        .order_by(D.next_attempt_at, D.id)
        .limit(share)
        .lateral("front")
    )
    candidates = (
        select(front.c.id)
        .select_from(W)
        .outerjoin(rooms, rooms.c.id == W.id)
        .join(front, true())
        .where(W.active.is_(True))
        .order_by(front.c.turn, front.c.id)
        .limit(bindparam("claim_limit", type_=Integer))
    )
    # Checked again on the rows themselves: another worker may have claimed one since.
    locked = (
        select(D.id)
        .where(D.id.in_(candidates.scalar_subquery()), due)
        .with_for_update(skip_locked=True)
    )
    return (
        update(D)
        .where(D.id.in_(locked.scalar_subquery()))
        .values(
            locked_by=bindparam("owner", type_=String),
            locked_until=now + bindparam("lease", type_=Interval),
            attempts=D.attempts + 1,
        )
        .returning(*_CLAIMED)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery just leased, with what its subscription says about sending it."""

    id: int
    webhook_id: int
    event_id: int | None
    topic: str
    payload: Any
    attempts: int
    created_at: Any
    attempt_log: Any
    address: str
    secret: str | None
    fields: list[str] | None


@cache
def _postgres_claim_to_send() -> Any:
    """`_postgres_claim`, returning each delivery with its subscription's address, secret and
    fields: the claim and the read of the subscriptions in one round trip."""
    claimed = _postgres_claim().cte("claimed")
    return select(claimed, W.address, W.secret, W.fields).join(W, W.id == claimed.c.webhook_id)


def _claim_values(
    owner: str,
    limit: int,
    per_subscription: int,
    room: Mapping[int, int],
    lease_seconds: float,
) -> dict[str, Any]:
    rooms = sorted(room.items())
    return {
        "owner": owner,
        "claim_limit": limit,
        "per_subscription": per_subscription,
        "room_ids": [webhook_id for webhook_id, _ in rooms],
        "room_shares": [share for _, share in rooms],
        "lease": timedelta(seconds=lease_seconds),
    }


def _successes_values(owner: str, sent: Sequence[SentOutcome]) -> dict[str, Any]:
    return {
        "owner": owner,
        "ids": [one.id for one in sent],
        "attempts": [one.attempt for one in sent],
        "statuses": [one.status_code for one in sent],
        "durations": [one.duration_ms for one in sent],
        "logs": [orjson.dumps(one.attempt_log).decode() for one in sent],
    }


def _claimed_delivery(row: Any) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        topic=row.topic,
        payload=prepared.json_value(row.payload),
        attempts=row.attempts,
        created_at=row.created_at,
        attempt_log=prepared.json_value(row.attempt_log),
        address=row.address,
        secret=row.secret,
        fields=prepared.json_value(row.fields),
    )


# The sender's two statements on PostgreSQL, each a unit of work by itself, run in autocommit
# (Database.autocommit_connection, kit.prepared.fetch_alone): no session, no BEGIN and COMMIT
# round trips around them. A fan-out claims and records a batch of deliveries per statement,
# so these are most of its database work.


async def claim_at_once(
    connection: AsyncConnection,
    owner: str,
    *,
    limit: int,
    per_subscription: int,
    room: Mapping[int, int],
    lease_seconds: float,
) -> list[ClaimedDelivery]:
    """PostgreSQL: DeliveryRepository.claim's statement alone, in autocommit."""
    values = _claim_values(owner, limit, per_subscription, room, lease_seconds)
    rows = await prepared.fetch_alone(connection, _postgres_claim_to_send(), values)
    return [_claimed_delivery(row) for row in rows]


async def record_successes_at_once(
    connection: AsyncConnection, owner: str, sent: Sequence[SentOutcome]
) -> set[int]:
    """PostgreSQL: DeliveryRepository.record_successes's statement alone, in autocommit."""
    rows = await prepared.fetch_alone(connection, _RECORD_SUCCESSES, _successes_values(owner, sent))
    return {row[0] for row in rows}


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, webhook_id: int, *, lock: bool = False) -> Webhook | None:
        statement = select(W).where(W.id == webhook_id)
        if lock:
            statement = statement.with_for_update()
        return await self.session.scalar(statement)

    async def page(self, *, topic: str | None, request: PageRequest) -> RowsPage[Webhook]:
        where = [] if topic is None else [W.topic == topic]
        return await read_requested_page(
            self.session, select(W).where(*where), request, sort_column=W.id, id_column=W.id
        )

    async def taken(self, topic: str, address: str, *, except_id: int | None) -> bool:
        statement = select(W.id).where(W.topic == topic, W.address == address)
        if except_id is not None:
            statement = statement.where(W.id != except_id)
        return (await self.session.scalar(statement.limit(1))) is not None

    async def add(self, webhook: Webhook) -> Webhook:
        self.session.add(webhook)
        await self.session.flush()
        return webhook

    async def delete(self, webhook_id: int) -> None:
        # Its deliveries go with it (ON DELETE CASCADE): nothing is sent to it any more.
        await self.session.execute(delete(W).where(W.id == webhook_id))


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"

    # --- the API ----------------------------------------------------------------------------

    async def get(self, webhook_id: int, delivery_id: int) -> WebhookDelivery | None:
        return await self.session.scalar(
            select(D)
            .where(D.id == delivery_id, D.webhook_id == webhook_id)
            .execution_options(populate_existing=True)
        )

    async def page(
        self, webhook_id: int, *, status: str | None, request: PageRequest
    ) -> RowsPage[WebhookDelivery]:
        """Newest first."""
        where = [D.webhook_id == webhook_id]
        if status is not None:
            where.append(D.status == status)
        return await read_requested_page(
            self.session,
            select(D).where(*where),
            request,
            sort_column=D.id,
            id_column=D.id,
            direction="desc",
        )

    async def redeliver(self, delivery_id: int) -> bool:
        """Due now, with a fresh retry schedule; False while a worker holds it."""
        now = self._now()
        statement = (
            update(D)
            .where(D.id == delivery_id, or_(D.locked_until.is_(None), D.locked_until < now))
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=now,
                locked_by=None,
                locked_until=None,
            )
            .returning(D.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).first() is not None

    # --- the sender ---------------------------------------------------------------------------

    def _now(self) -> Any:
        if self.postgres:
            return func.clock_timestamp()
        return literal(utcnow(), UTCDateTime())

    def _after(self, seconds: float) -> Any:
        delta = timedelta(seconds=seconds)
        if self.postgres:
            return func.clock_timestamp() + delta
        return literal(utcnow() + delta, UTCDateTime())

    def _due(self) -> Any:
        now = self._now()
        return and_(
            D.status.in_(_DUE_STATUSES),
            D.next_attempt_at <= now,
            or_(D.locked_until.is_(None), D.locked_until < now),
        )

    def _sendable(self) -> Any:
        # Deliveries of an inactive subscription wait: reactivating it sends them.
        return and_(self._due(), exists().where(W.id == D.webhook_id, W.active.is_(True)))

    async def any_due(self) -> bool:
        return bool(await self.session.scalar(select(exists().where(self._sendable()))))

    async def claim(
        self,
        owner: str,
        *,
        limit: int,
        per_subscription: int,
        room: Mapping[int, int],
        lease_seconds: float,
    ) -> list[ClaimedDelivery]:
        """Lease up to `limit` due deliveries to `owner`, each with its subscription's
        address, secret and fields (one statement on PostgreSQL)."""
        if self.postgres:  # claim_at_once's statement, in the session's transaction
            values = _claim_values(owner, limit, per_subscription, room, lease_seconds)
            rows = await prepared.fetch_in_transaction(
                self.session, _postgres_claim_to_send(), values
            )
            return [_claimed_delivery(row) for row in rows]
        candidates = self._ranked(room, per_subscription)
        # Checked again on the rows themselves: another worker may have claimed one since.
        locked = select(D.id).where(
            D.id.in_(candidates.limit(limit).scalar_subquery()), self._due()
        )
        statement = (
            update(D)
            .where(D.id.in_(locked.scalar_subquery()))
            .values(
                locked_by=owner,
                locked_until=self._after(lease_seconds),
                attempts=D.attempts + 1,
            )
            .returning(*_CLAIMED)
            .execution_options(synchronize_session=False)
        )
        rows = list((await self.session.execute(statement)).all())
        if not rows:
            return []
        subscriptions = await self.subscriptions(sorted({r.webhook_id for r in rows}))
        return [
            ClaimedDelivery(
                **row._mapping,
                address=subscriptions[row.webhook_id].address,
                secret=subscriptions[row.webhook_id].secret,
                fields=subscriptions[row.webhook_id].fields,
            )
            for row in rows
        ]

    def _ranked(self, room: Mapping[int, int], per_subscription: int) -> Select[Any]:
        """SQLite (no LATERAL): every sendable delivery ranked within its subscription."""
        turn = (
            func.row_number()
            .over(partition_by=D.webhook_id, order_by=(D.next_attempt_at, D.id))
            .label("turn")
        )
        ranked = select(D.id, D.webhook_id, turn).where(self._sendable()).subquery()
        # What the worker may still have in flight for each subscription, else the default.
        share = (
            case(dict(room), value=ranked.c.webhook_id, else_=per_subscription)
            if room
            else literal(per_subscription)
        )
        return (
            select(ranked.c.id).where(ranked.c.turn <= share).order_by(ranked.c.turn, ranked.c.id)
        )

    async def subscriptions(self, webhook_ids: Sequence[int]) -> dict[int, Any]:
        rows = await self.session.execute(
            select(W.id, W.address, W.secret, W.fields).where(W.id.in_(list(webhook_ids)))
        )
        return {row.id: row for row in rows}

    def _fenced(self, delivery_id: int, owner: str, attempt: int) -> Any:
        return and_(D.id == delivery_id, D.locked_by == owner, D.attempts == attempt)

    async def record(
        self, delivery_id: int, owner: str, attempt: int, *, retry_in: float | None, **values: Any
    ) -> bool:
        """Write an attempt's outcome and release the lease; False when the lease was lost.

        `retry_in`: seconds until the next attempt (status `failed`), None for none."""
        if retry_in is not None:
            values["next_attempt_at"] = self._after(retry_in)
        statement = (
            update(D)
            .where(self._fenced(delivery_id, owner, attempt))
            .values(locked_by=None, locked_until=None, last_attempt_at=self._now(), **values)
            .returning(D.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).first() is not None

    async def record_successes(self, owner: str, sent: Sequence[SentOutcome]) -> set[int]:
        """Write successful attempts and release their leases, fenced as `record` is, and
        reset the run of failures of their subscriptions; the ids whose lease held. One
        statement on PostgreSQL, whatever the batch's size."""
        if not self.postgres:
            kept: dict[int, int] = {}
            for one in sent:
                if await self.record(
                    one.id,
                    owner,
                    one.attempt,
                    retry_in=None,
                    status="succeeded",
                    delivered_at=utcnow(),
                    next_attempt_at=None,
                    response_status=one.status_code,
                    duration_ms=one.duration_ms,
                    last_error=None,
                    attempt_log=one.attempt_log,
                ):
                    kept[one.id] = one.webhook_id
            await self.succeeded_all(sorted(set(kept.values())))
            return set(kept)
        rows = await prepared.fetch_in_transaction(
            self.session, _RECORD_SUCCESSES, _successes_values(owner, sent)
        )
        return {row[0] for row in rows}

    async def succeeded_all(self, webhook_ids: Sequence[int]) -> None:
        """A success resets each subscription's run of failures (locking no row that has none)."""
        if not webhook_ids:
            return
        await self.session.execute(
            update(W)
            .where(W.id.in_(list(webhook_ids)), W.consecutive_failures != 0)
            .values(consecutive_failures=0)
            .execution_options(synchronize_session=False)
        )

    async def succeeded(self, webhook_id: int) -> None:
        # Matches no row, and so locks none, unless a run of failures is to be reset.
        await self.session.execute(
            update(W)
            .where(W.id == webhook_id, W.consecutive_failures != 0)
            .values(consecutive_failures=0)
            .execution_options(synchronize_session=False)
        )

    async def abandoned(self, webhook_id: int, threshold: int) -> bool:
        """Count a dead delivery; True when this one deactivated the subscription."""
        counted = await self.session.scalar(
            update(W)
            .where(W.id == webhook_id)
            .values(consecutive_failures=W.consecutive_failures + 1)
            .returning(W.consecutive_failures)
            .execution_options(synchronize_session=False)
        )
        if counted is None or counted < threshold:
            return False
        deactivated = await self.session.execute(
            update(W)
            .where(W.id == webhook_id, W.active.is_(True))
            .values(active=False, deactivated_at=self._now(), updated_at=utcnow())
            .returning(W.id)
            .execution_options(synchronize_session=False)
        )
        return deactivated.first() is not None

"""Every query on customers, their addresses, tags and groups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shopdb.db import autocommit_reads
from shopdb.kit.pagination import Direction, PageRequest, RowsPage, read_requested_page
from shopdb.models import (
    Customer,
    CustomerAddress,
    CustomerGroup,
    CustomerGroupMembership,
    CustomerTag,
    Event,
    Order,
)
from shopdb.models.customers import CUSTOMER_NAME_SEARCH_SQL

# sortBy: (column, the type of its cursor key, whether it is nullable).
SORT_COLUMNS: dict[str, tuple[Any, type, bool]] = {
    "id": (Customer.id, int, False),
    "createdAt": (Customer.created_at, datetime, False),
    "updatedAt": (Customer.updated_at, datetime, False),
    "firstName": (Customer.first_name, str, True),
    "lastName": (Customer.last_name, str, True),
    "state": (Customer.state, str, False),
}

# Built once (kit.prepared: compiled once, prepared once per connection).
_CONTACT = select(
    Customer.first_name,
    Customer.last_name,
    Customer.email,
    Customer.phone,
    Customer.sms_marketing_state,
).where(
    Customer.id == bindparam("customer_id", type_=BigInteger),
    Customer.deleted_at.is_(None),
)


@dataclass(frozen=True)
class CustomerFilter:
    email_hash: str | None = None
    state: str | None = None
    tag: str | None = None
    group_id: int | None = None
    q: str | None = None


def _like_escaped(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(where: CustomerFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Customer.deleted_at.is_(None)]
    if where.email_hash is not None:
        conditions.append(Customer.email_hash == where.email_hash)
    if where.state is not None:
        conditions.append(Customer.state == where.state)
    if where.tag is not None:
        # Any letter case, as tags are unique in any case; lower(tag) is indexed (with the id).
        conditions.append(
            exists().where(
                func.lower(CustomerTag.tag) == func.lower(where.tag),
                CustomerTag.customer_id == Customer.id,
            )
        )
    if where.group_id is not None:
        conditions.append(
            exists().where(
                CustomerGroupMembership.customer_id == Customer.id,
                CustomerGroupMembership.customer_group_id == where.group_id,
            )
        )
    # Every word must match the first or the last name: "ava smi" finds Ava Smith. A word has
    # no space, so it is in "first last" exactly when it is in one of them; that expression
    # has a trigram index on PostgreSQL. The word is lowered by the database, as the names
    # are, so both backends fold case alike.
    names: ColumnElement[str] = literal_column(CUSTOMER_NAME_SEARCH_SQL)
    for term in (where.q or "").split():
        conditions.append(names.like(func.lower(_like_escaped(term)), escape="\\"))
    return conditions


_DETAIL = (
    selectinload(Customer.tag_rows),
    selectinload(Customer.group_memberships),
    selectinload(Customer.addresses),
)
_SUMMARY = (selectinload(Customer.tag_rows), selectinload(Customer.group_memberships))


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, customer_id: int, *, lock: bool = False) -> Customer | None:
        """A live (not deleted) customer with tags, memberships and addresses loaded.

        `lock` takes the row lock first: changes to a customer's addresses serialise on it.
        """
        statement = (
            select(Customer)
            .where(Customer.id == customer_id, Customer.deleted_at.is_(None))
            .options(*_DETAIL)
            .execution_options(populate_existing=True)
        )
        if lock:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def contact(self, customer_id: int) -> Any | None:
        """A live customer's name, sealed email and phone and SMS consent, in one statement
        (a row, no relationships): what a notification needs to address them. An autocommit
        read on PostgreSQL, as the order's document it goes with (every confirmation email)."""
        async with autocommit_reads(self.session) as reads:
            rows = await reads.fetch(_CONTACT, {"customer_id": customer_id})
        return rows[0] if rows else None

    async def exists(self, customer_id: int) -> bool:
        found = await self.session.scalar(
            select(Customer.id).where(Customer.id == customer_id, Customer.deleted_at.is_(None))
        )
        return found is not None

    async def touch(self, customer_id: int, now: datetime) -> bool:
        """New version and updated_at for a live customer (its ETag changes); False: none."""
        result = await self.session.execute(
            update(Customer)
            .where(Customer.id == customer_id, Customer.deleted_at.is_(None))
            .values(version=Customer.version + 1, updated_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def has_live_orders(self, customer_id: int) -> bool:
        """Whether an order (not soft-deleted) belongs to the customer.

        Race-safe only after `get(..., lock=True)`: an order being inserted for the customer
        holds a FOR KEY SHARE lock on its row (the foreign key check) until it commits, which
        FOR UPDATE waits for; this statement then runs after it and sees the order.
        """
        found = await self.session.scalar(
            select(Order.id)
            .where(Order.customer_id == customer_id, Order.deleted_at.is_(None))
            .limit(1)
        )
        return found is not None

    async def tax_status(self, customer_id: int) -> tuple[bool, list[str]] | None:
        row = (
            await self.session.execute(
                select(Customer.tax_exempt, Customer.tax_exemptions).where(
                    Customer.id == customer_id, Customer.deleted_at.is_(None)
                )
            )
        ).one_or_none()
        return None if row is None else (bool(row.tax_exempt), list(row.tax_exemptions or []))

    async def email_hash_taken(self, email_hash: str, *, except_id: int | None = None) -> bool:
        statement = select(Customer.id).where(
            Customer.email_hash == email_hash, Customer.deleted_at.is_(None)
        )
        if except_id is not None:
            statement = statement.where(Customer.id != except_id)
        return (await self.session.scalar(statement.limit(1))) is not None

    async def page(
        self, where: CustomerFilter, *, sort_by: str, direction: Direction, request: PageRequest
    ) -> RowsPage[Customer]:
        """A page of live customers; names are nullable and sort NULLS LAST in both directions,
        so SQLite and PostgreSQL list them in the same order."""
        column, key_type, nullable = SORT_COLUMNS[sort_by]
        return await read_requested_page(
            self.session,
            select(Customer).where(*_conditions(where)).options(*_SUMMARY),
            request,
            sort_column=column,
            id_column=Customer.id,
            direction=direction,
            sort_name=sort_by,
            key_type=key_type,
            nulls_last=nullable,
        )

    async def add(self, customer: Customer) -> Customer:
        self.session.add(customer)
        await self.session.flush()
        return customer

    async def replace_tags(self, customer: Customer, tags: list[str]) -> None:
        """`tags` (unique in any case) become the set; a tag sent in another spelling than the
        stored one replaces it, as a product's tags do."""
        wanted = set(tags)
        current = {row.tag: row for row in customer.tag_rows}
        for tag, row in current.items():
            if tag not in wanted:
                customer.tag_rows.remove(row)
        # Removals first: a tag removed and re-added must not collide on the unique index.
        await self.session.flush()
        for tag in tags:
            if tag not in current:
                customer.tag_rows.append(CustomerTag(tag=tag))
        await self.session.flush()

    # --- addresses ----------------------------------------------------------------------------

    async def add_address(self, address: CustomerAddress) -> CustomerAddress:
        self.session.add(address)
        await self.session.flush()
        return address

    async def clear_default_address(self, customer_id: int) -> None:
        await self.session.execute(
            update(CustomerAddress)
            .where(CustomerAddress.customer_id == customer_id, CustomerAddress.is_default)
            .values(is_default=False)
        )

    async def mark_default_address(self, address_id: int) -> None:
        await self.session.execute(
            update(CustomerAddress).where(CustomerAddress.id == address_id).values(is_default=True)
        )

    async def delete_address(self, address_id: int) -> None:
        await self.session.execute(delete(CustomerAddress).where(CustomerAddress.id == address_id))

    async def first_address_id(self, customer_id: int) -> int | None:
        return await self.session.scalar(
            select(func.min(CustomerAddress.id)).where(CustomerAddress.customer_id == customer_id)
        )


class DataAccessLog:
    """The audit rows of personal-data reads, written for a whole page in one statement.

    They are ordinary `events` rows (the shape shopdb.events.service.record_event writes);
    recorded one ORM object at a time, a page of 250 customers would cost 250 INSERTs on
    SQLite, which cannot batch INSERT ... RETURNING for the ORM.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_many(
        self, *, topic: str, verb: str, actor: str, body: Any, ids: list[int]
    ) -> None:
        if not ids:
            return
        await self.session.execute(
            insert(Event),
            [
                {
                    "topic": topic,
                    "verb": verb,
                    "subject": f"Customer {customer_id}",
                    "subject_type": "Customer",
                    "subject_id": customer_id,
                    "body": body,
                    "actor": actor,
                }
                for customer_id in ids
            ],
        )


class CustomerGroupRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, group_id: int) -> CustomerGroup | None:
        return await self.session.get(CustomerGroup, group_id)

    async def name_taken(self, name: str, *, except_id: int | None = None) -> bool:
        statement = select(CustomerGroup.id).where(func.lower(CustomerGroup.name) == name.lower())
        if except_id is not None:
            statement = statement.where(CustomerGroup.id != except_id)
        return (await self.session.scalar(statement.limit(1))) is not None

    async def page(self, request: PageRequest) -> RowsPage[CustomerGroup]:
        return await read_requested_page(
            self.session,
            select(CustomerGroup),
            request,
            sort_column=CustomerGroup.name,
            id_column=CustomerGroup.id,
            sort_name="name",
            key_type=str,
        )

    async def member_counts(self, group_ids: list[int]) -> dict[int, int]:
        """Live members per group, in one query for a whole page of groups."""
        if not group_ids:
            return {}
        result = await self.session.execute(
            select(CustomerGroupMembership.customer_group_id, func.count())
            .join(Customer, Customer.id == CustomerGroupMembership.customer_id)
            .where(
                CustomerGroupMembership.customer_group_id.in_(group_ids),
                Customer.deleted_at.is_(None),
            )
            .group_by(CustomerGroupMembership.customer_group_id)
        )
        return {group_id: int(count) for group_id, count in result.all()}

    async def add(self, group: CustomerGroup) -> CustomerGroup:
        self.session.add(group)
        await self.session.flush()
        return group

    async def delete(self, group_id: int) -> None:
        # Memberships go with it (ON DELETE CASCADE).
        await self.session.execute(delete(CustomerGroup).where(CustomerGroup.id == group_id))

    async def add_membership(self, group_id: int, customer_id: int, now: datetime) -> bool:
        """Make a live customer a member unless it is one already; True if this call did.

        ON CONFLICT DO NOTHING (PostgreSQL, and SQLite's own) on the (group, customer) key: a
        concurrent request adding the same member waits for the other's insert and then does
        nothing, instead of failing on the unique key. False also when the customer is not
        live (the SELECT finds no row to insert).
        """
        insert_ = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        statement = (
            insert_(CustomerGroupMembership)
            .from_select(
                ["customer_group_id", "customer_id", "created_at"],
                select(literal(group_id), Customer.id, literal(now, Customer.created_at.type))
                # A WHERE also keeps SQLite from reading ON CONFLICT as a join's ON.
                .where(Customer.id == customer_id, Customer.deleted_at.is_(None)),
            )
            .on_conflict_do_nothing(index_elements=["customer_group_id", "customer_id"])
            .returning(CustomerGroupMembership.id)
        )
        return (await self.session.execute(statement)).first() is not None

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def remove_membership(self, group_id: int, customer_id: int) -> bool:
        result = await self.session.execute(
            delete(CustomerGroupMembership).where(
                CustomerGroupMembership.customer_group_id == group_id,
                CustomerGroupMembership.customer_id == customer_id,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def members(
        self, group_id: int, request: PageRequest
    ) -> RowsPage[CustomerGroupMembership]:
        """Live members by customer id: a range of the (group, customer) unique index.

        Whether the member is live is a scalar subquery, one primary-key probe per member read,
        not a join: PostgreSQL would merge-join the customers from their first id, reading
        every customer below the page (O(customers), not O(page)).
        """
        live = (
            select(Customer.deleted_at.is_(None))
            .where(Customer.id == CustomerGroupMembership.customer_id)
            .scalar_subquery()
        )
        return await read_requested_page(
            self.session,
            select(CustomerGroupMembership).where(
                CustomerGroupMembership.customer_group_id == group_id, live
            ),
            request,
            sort_column=CustomerGroupMembership.customer_id,
            id_column=CustomerGroupMembership.customer_id,
            sort_name="customerId",
        )

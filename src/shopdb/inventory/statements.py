"""The statements that change a level, built once per backend and executed with parameters.

Built once because they are large: SQLAlchemy then finds their compiled SQL in its cache and
asyncpg its prepared statement, instead of building the tree on every request.

A change is four writes: the guarded UPDATE of the level, an `inventory_adjustments` row when
`available` moved, the same delta on `product_variants.inventory_quantity`, and an `events` row.

- PostgreSQL runs them as ONE statement: the level UPDATE is a data-modifying CTE (`lvl`) and
  the other three read its RETURNING row, so a refused change (the UPDATE matched nothing)
  writes nothing at all. The variant is updated through a join on `lvl`, so its row lock is
  always taken after the level's: the lock order the service relies on.
- SQLite has no data-modifying CTEs: the level UPDATE ... RETURNING runs first, then the same
  three writes, with `lvl` re-reading the level by id (the transaction holds SQLite's write
  lock, so the row cannot have moved in between).

Either way the three writes are built by one function, so the rows they write, the event body
included, are the same on both backends.

Guards, all in the level UPDATE's WHERE (a refused change matches no row and writes nothing):
the level exists at an active location; its item's product is not soft-deleted; available and
committed stay >= 0; and nothing passes PostgreSQL's INTEGER (kit.bounds.MAX_INT): not the
level's available + committed (the event's onHand) and not the variant's inventory_quantity,
the sum over locations. The sums are taken as BIGINT, so checking them cannot overflow either.
One scalar subquery reads the variant's total only while its product is live, so one lookup
by primary keys carries both the soft-delete and the total guard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Insert,
    Integer,
    Select,
    String,
    Table,
    Text,
    Update,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.sql.selectable import NamedFromClause, ScalarSelect

from shopdb.kit.bounds import MAX_INT
from shopdb.kit.types import UTCDateTime
from shopdb.models import (
    Event,
    InventoryAdjustment,
    InventoryItem,
    InventoryLevel,
    Location,
    Product,
    ProductVariant,
)

# The ORM tables as Core tables: these statements have nothing to synchronise with the session.
LEVELS = cast(Table, InventoryLevel.__table__)
ADJUSTMENTS = cast(Table, InventoryAdjustment.__table__)
ITEMS = cast(Table, InventoryItem.__table__)
LOCATIONS = cast(Table, Location.__table__)
VARIANTS = cast(Table, ProductVariant.__table__)
PRODUCTS = cast(Table, Product.__table__)
EVENTS = cast(Table, Event.__table__)

TOPIC = "inventory_levels/update"
SUBJECT_TYPE = "InventoryLevel"

# Kinds of change. `change` moves available/committed by deltas (adjust, order moves); `set`
# writes an absolute `available`. Their event bodies differ as they always have: only a
# `change` carries committedDelta.
Kind = Literal["change", "set"]


def bind(**values: object) -> dict[str, object]:
    """Parameters for these statements: `bind(item_id=1)` -> {"p_item_id": 1}.

    The prefix keeps them apart from column names: Core adds a parameter named like a column
    of an UPDATE's table to its SET clause.
    """
    return {f"p_{name}": value for name, value in values.items()}


ITEM_ID = bindparam("p_item_id", type_=BigInteger)
LOCATION_ID = bindparam("p_location_id", type_=BigInteger)
D_AVAILABLE = bindparam("p_d_available", type_=Integer)
D_COMMITTED = bindparam("p_d_committed", type_=Integer)
AVAILABLE = bindparam("p_available", type_=Integer)
VARIANT_DELTA = bindparam("p_variant_delta", type_=Integer)
REASON = bindparam("p_reason", type_=String)
NOTE = bindparam("p_note", type_=Text)
ACTOR = bindparam("p_actor", type_=String)
NOW = bindparam("p_now", type_=UTCDateTime())
# SQLite only: the level the UPDATE returned, and the delta it applied.
LEVEL_ID = bindparam("p_level_id", type_=BigInteger)
AVAILABLE_DELTA = bindparam("p_available_delta", type_=Integer)

LEVEL_COLUMNS = (
    LEVELS.c.id,
    LEVELS.c.inventory_item_id,
    LEVELS.c.location_id,
    LEVELS.c.available,
    LEVELS.c.committed,
    LEVELS.c.updated_at,
)


def _constant(text: str) -> ColumnElement[str]:
    """A string constant written into the SQL, not a parameter (these never vary)."""
    if "'" in text:
        raise ValueError(f"not a plain constant: {text!r}")
    return literal_column(f"'{text}'", String)


# Written into the SQL (not a parameter): the batcher's prepared statement needs no value for it.
MAX_QUANTITY = literal_column(str(MAX_INT), BigInteger)


def _big(column: ColumnElement[int]) -> ColumnElement[int]:
    return sql_cast(column, BigInteger)


def live_variant_quantity() -> ScalarSelect[int]:
    """The item's variant's inventory_quantity as BIGINT; NULL when the item's product is
    soft-deleted (or the item is gone). Compared with anything, NULL is not true: a guard
    built on it refuses a deleted product's stock as it refuses a missing level."""
    return (
        select(_big(VARIANTS.c.inventory_quantity))
        .where(
            ITEMS.c.id == ITEM_ID,
            VARIANTS.c.id == ITEMS.c.product_variant_id,
            PRODUCTS.c.id == VARIANTS.c.product_id,
            PRODUCTS.c.deleted_at.is_(None),
        )
        .correlate(None)
        .scalar_subquery()
    )


def _at_changeable_level() -> tuple[ColumnElement[bool], ...]:
    return (
        LEVELS.c.inventory_item_id == ITEM_ID,
        LEVELS.c.location_id == LOCATION_ID,
        exists().where(LOCATIONS.c.id == LOCATION_ID, LOCATIONS.c.active.is_(True)),
    )


def _level_change() -> Update:
    """Move available and committed by deltas, refusing (no row) what would go below zero,
    past INTEGER, or touch a deleted product's stock."""
    available, committed = _big(LEVELS.c.available), _big(LEVELS.c.committed)
    return (
        update(LEVELS)
        .where(
            *_at_changeable_level(),
            available + D_AVAILABLE >= 0,
            committed + D_COMMITTED >= 0,
            available + committed + D_AVAILABLE + D_COMMITTED <= MAX_QUANTITY,
            live_variant_quantity() + VARIANT_DELTA <= MAX_QUANTITY,
        )
        .values(
            available=LEVELS.c.available + D_AVAILABLE,
            committed=LEVELS.c.committed + D_COMMITTED,
            # A zero change (SQLite's set of the value already held) leaves the level as it was.
            version=LEVELS.c.version + case((or_(D_AVAILABLE != 0, D_COMMITTED != 0), 1), else_=0),
            updated_at=case(
                (or_(D_AVAILABLE != 0, D_COMMITTED != 0), NOW), else_=LEVELS.c.updated_at
            ),
        )
        .returning(*LEVEL_COLUMNS, D_AVAILABLE.label("available_delta"))
    )


def _level_set() -> Update:
    """PostgreSQL: set available absolutely and return the delta from the value it replaced.

    The FOR UPDATE subquery locks the row first (waiting out a concurrent writer, then reading
    its committed value), so the old value the delta comes from is the one replaced.
    """
    old = (
        select(
            LEVELS.c.id.label("level_id"),
            LEVELS.c.available.label("old_available"),
            live_variant_quantity().label("variant_quantity"),
        )
        .where(*_at_changeable_level())
        .with_for_update(of=LEVELS)
        .subquery("old")
    )
    return (
        update(LEVELS)
        .where(
            LEVELS.c.id == old.c.level_id,
            _big(AVAILABLE) + LEVELS.c.committed <= MAX_QUANTITY,
            old.c.variant_quantity + AVAILABLE - old.c.old_available <= MAX_QUANTITY,
        )
        # Setting the value already held changes nothing: no new version, and (below) no log
        # row and no event, so re-importing an unchanged file leaves no trace. Still one
        # statement, whose row tells the caller the level is usable.
        .values(
            available=AVAILABLE,
            version=LEVELS.c.version + case((LEVELS.c.available != AVAILABLE, 1), else_=0),
            updated_at=case((LEVELS.c.available != AVAILABLE, NOW), else_=LEVELS.c.updated_at),
        )
        .returning(
            *LEVEL_COLUMNS, (LEVELS.c.available - old.c.old_available).label("available_delta")
        )
    )


@cache
def current_available() -> Select[int]:
    """SQLite's `set` reads the value it replaces (under the database write lock)."""
    return select(LEVELS.c.available).where(*_at_changeable_level())


@dataclass(frozen=True)
class Writes:
    """What follows a level UPDATE: the adjustment log, the variant total, the event."""

    log: Insert
    variant: Update
    event: Insert


def _writes(
    lvl: NamedFromClause,
    kind: Kind,
    variant_delta: ColumnElement[int],
    json_object: Callable[..., ColumnElement[Any]],
) -> Writes:
    """The three writes, reading the changed level from `lvl`.

    `lvl` has the level's columns after the change plus `available_delta`; `variant_delta` is
    what the variant's total moves by (several levels of one item changed together move it
    once, with their sum, after the last of them).
    """
    log = insert(ADJUSTMENTS).from_select(
        ["inventory_item_id", "location_id", "quantity_adjustment", "reason", "note", "created_at"],
        select(
            lvl.c.inventory_item_id, lvl.c.location_id, lvl.c.available_delta, REASON, NOTE, NOW
        ).where(lvl.c.available_delta != 0),
    )
    variant = (
        update(VARIANTS)
        .where(
            VARIANTS.c.id == ITEMS.c.product_variant_id,
            ITEMS.c.id == lvl.c.inventory_item_id,
            variant_delta != 0,
        )
        .values(inventory_quantity=VARIANTS.c.inventory_quantity + variant_delta, updated_at=NOW)
        # Whose product document changed (catalog/cache.py): none when the total did not move.
        .returning(VARIANTS.c.product_id)
    )
    body: list[ColumnElement[Any]] = [
        _constant("inventoryItemId"),
        lvl.c.inventory_item_id,
        _constant("locationId"),
        lvl.c.location_id,
        _constant("available"),
        lvl.c.available,
        _constant("committed"),
        lvl.c.committed,
        _constant("onHand"),
        lvl.c.available + lvl.c.committed,
        _constant("availableDelta"),
        lvl.c.available_delta,
    ]
    if kind == "change":
        body += [_constant("committedDelta"), D_COMMITTED]
    body += [_constant("reason"), REASON]
    event_rows = select(
        _constant(TOPIC),
        _constant(TOPIC.rsplit("/", 1)[-1]),
        _constant(f"{SUBJECT_TYPE} ") + lvl.c.id.cast(String),
        _constant(SUBJECT_TYPE),
        lvl.c.id,
        json_object(*body),
        ACTOR,
        NOW,
    )
    if kind == "set":  # a set that changed nothing is not an event
        event_rows = event_rows.where(lvl.c.available_delta != 0)
    event = insert(EVENTS).from_select(
        ["topic", "verb", "subject", "subject_type", "subject_id", "body", "actor", "created_at"],
        event_rows,
    )
    return Writes(log=log, variant=variant, event=event)


@cache
def postgres_change(kind: Kind) -> Select[*tuple[Any, ...]]:
    """The whole change in one statement; returns the changed level, or no row if refused."""
    level = _level_change() if kind == "change" else _level_set()
    lvl = level.cte("lvl")
    variant_delta = VARIANT_DELTA if kind == "change" else lvl.c.available_delta
    writes = _writes(lvl, kind, variant_delta, func.jsonb_build_object)
    variant = writes.variant.cte("variant")
    changed_product = select(variant.c.product_id).scalar_subquery().label("product_id")
    return select(
        *(lvl.c[column.name] for column in LEVEL_COLUMNS), lvl.c.available_delta, changed_product
    ).add_cte(writes.log.cte("log"), variant, writes.event.cte("event"))


@cache
def sqlite_writes(kind: Kind) -> Writes:
    """The writes after SQLite's level UPDATE, with `lvl` read back by `level_id`."""
    lvl = (
        select(*LEVEL_COLUMNS, AVAILABLE_DELTA.label("available_delta"))
        .where(LEVELS.c.id == LEVEL_ID)
        .subquery("lvl")
    )
    return _writes(lvl, kind, VARIANT_DELTA, func.json_object)


@cache
def sqlite_level_change() -> Update:
    return _level_change()


@cache
def probe() -> Select[bool | None, int | None, int | None, int | None]:
    """Why a change matched no level: the location's `active` (None if missing), the variant's
    total (None: no item, or its product is deleted), the level's available and committed
    (None: no level)."""
    at_level = (LEVELS.c.inventory_item_id == ITEM_ID, LEVELS.c.location_id == LOCATION_ID)
    return select(
        select(LOCATIONS.c.active).where(LOCATIONS.c.id == LOCATION_ID).scalar_subquery(),
        live_variant_quantity(),
        select(LEVELS.c.available).where(*at_level).scalar_subquery(),
        select(LEVELS.c.committed).where(*at_level).scalar_subquery(),
    )


def live_item_ids() -> Select[int]:
    """Inventory items whose product is not soft-deleted: reads show only their stock."""
    return select(ITEMS.c.id).where(
        VARIANTS.c.id == ITEMS.c.product_variant_id,
        PRODUCTS.c.id == VARIANTS.c.product_id,
        PRODUCTS.c.deleted_at.is_(None),
    )

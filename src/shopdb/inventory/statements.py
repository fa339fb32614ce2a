"""The statements that change a level, built once per backend and executed with parameters.

Built once because they are large: SQLAlchemy then finds their compiled SQL in its cache and
asyncpg its prepared statement, instead of building the tree on every request. A `change` is
built once per set of states it moves (`moved`): an adjustment of `available`, the busiest
write, sets, guards and logs that state alone.

A change is four writes: the guarded UPDATE of the level, an `inventory_adjustments` row per
state that moved (`quantity_name`), the `available` delta on
`product_variants.inventory_quantity`, and an `events` row with every state of the level.

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
the level exists at an active location; its item's product is not soft-deleted; every state
but `available` stays >= 0; `available` stays >= 0 too unless the change follows the variant's
policy (`p_by_policy`) and the variant may be sold beyond its stock (policy `continue`, or an
untracked item), or the change does not lower it; a `set` with `compareQuantity` finds the
value it expects; and nothing passes PostgreSQL's INTEGER (kit.bounds.MAX_INT): not the
level's committed + unavailable units, not its on-hand (the event's onHand), not its incoming,
and not the variant's inventory_quantity, the sum over locations (either way, since available
may be negative). The sums are taken as BIGINT, so checking them cannot overflow either.
One scalar subquery reads the variant's total only while its product is live, so one lookup
by primary keys carries both the soft-delete and the total guard; another reads the policy,
and only when a change would take `available` below zero (PostgreSQL runs such an uncorrelated
subquery once, when first needed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    not_,
    or_,
    select,
    union_all,
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
from shopdb.models.inventory import QUANTITY_STATES, UNAVAILABLE_STATES

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

# Kinds of change. `change` moves the states by deltas (adjust, move, order moves); `set`
# writes an absolute `available`. Their event bodies differ as they always have: only a
# `change` carries the other states' deltas (committedDelta, ...).
Kind = Literal["change", "set"]

STATES = QUANTITY_STATES  # available first, then committed, incoming and the unavailable ones
Moved = tuple[str, ...]  # the states a change moves, in STATES order
OTHER_STATES = STATES[1:]  # every state but `available`: never below zero
ON_HAND_STATES = ("available", "committed", *UNAVAILABLE_STATES)  # not `incoming`


def bind(**values: object) -> dict[str, object]:
    """Parameters for these statements: `bind(item_id=1)` -> {"p_item_id": 1}.

    The prefix keeps them apart from column names: Core adds a parameter named like a column
    of an UPDATE's table to its SET clause.
    """
    return {f"p_{name}": value for name, value in values.items()}


def change_params(
    *,
    item_id: int,
    location_id: int,
    deltas: Mapping[str, int],
    variant_delta: int,
    by_policy: bool,
    reason: str,
    note: str | None,
    actor: str | None,
    now: datetime,
) -> dict[str, object]:
    """Every parameter of a `change` (a delta for each state, 0 when not given)."""
    unknown = set(deltas) - set(STATES)
    if unknown:
        raise ValueError(f"not quantity states: {sorted(unknown)}")
    return bind(
        item_id=item_id,
        location_id=location_id,
        variant_delta=variant_delta,
        by_policy=by_policy,
        reason=reason,
        note=note,
        actor=actor,
        now=now,
        **{f"d_{name}": deltas.get(name, 0) for name in STATES},
    )


ITEM_ID = bindparam("p_item_id", type_=BigInteger)
LOCATION_ID = bindparam("p_location_id", type_=BigInteger)
DELTAS = {name: bindparam(f"p_d_{name}", type_=Integer) for name in STATES}
D_AVAILABLE = DELTAS["available"]
AVAILABLE = bindparam("p_available", type_=Integer)
# `set` only: the value `available` must hold for the set to apply (NULL: no comparison).
COMPARE = bindparam("p_compare", type_=Integer)
# True: `available` may go below zero when the variant may be sold beyond its stock.
BY_POLICY = bindparam("p_by_policy", type_=Boolean)
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
    *(LEVELS.c[name] for name in STATES),
    LEVELS.c.updated_at,
)


def _constant(text: str) -> ColumnElement[str]:
    """A string constant written into the SQL, not a parameter (these never vary)."""
    if "'" in text:
        raise ValueError(f"not a plain constant: {text!r}")
    return literal_column(f"'{text}'", String)


# Written into the SQL (not a parameter): the batcher's prepared statement needs no value for it.
MAX_QUANTITY = literal_column(str(MAX_INT), BigInteger)
MIN_QUANTITY = literal_column(str(-MAX_INT), BigInteger)


def _big(column: ColumnElement[int]) -> ColumnElement[int]:
    return sql_cast(column, BigInteger)


def _sum(terms: list[ColumnElement[int]]) -> ColumnElement[int]:
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


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


def stock_limited() -> ScalarSelect[bool]:
    """Whether the item's `available` may never go below zero: it is tracked and its
    variant's inventory policy is `deny` (Shopify's default). `continue` variants are sold
    beyond their stock, and untracked items are never limited."""
    return (
        select(ITEMS.c.tracked.is_(True) & (VARIANTS.c.inventory_policy != _constant("continue")))
        .where(ITEMS.c.id == ITEM_ID, VARIANTS.c.id == ITEMS.c.product_variant_id)
        .correlate(None)
        .scalar_subquery()
    )


def _at_changeable_level() -> tuple[ColumnElement[bool], ...]:
    return (
        LEVELS.c.inventory_item_id == ITEM_ID,
        LEVELS.c.location_id == LOCATION_ID,
        exists().where(LOCATIONS.c.id == LOCATION_ID, LOCATIONS.c.active.is_(True)),
    )


def _available_allowed(
    after: ColumnElement[int], before: ColumnElement[int], by_policy: ColumnElement[bool]
) -> ColumnElement[bool]:
    """`available` may end at `after`: not below zero, not lower than it was (stock arriving
    at an oversold level), or, `by_policy`, the variant may be sold beyond its stock."""
    return or_(after >= 0, after >= before, by_policy & not_(stock_limited()))


def _bounds(after: dict[str, ColumnElement[int]], states: Moved) -> tuple[ColumnElement[bool], ...]:
    """INTEGER bounds of a level's states after a change moving `states`, as BIGINT
    expressions; a bound no moved state takes part in holds already and is left out."""
    held = [name for name in ON_HAND_STATES if name != "available"]
    bounds: list[ColumnElement[bool]] = []
    if "available" in states:
        bounds.append(after["available"] >= MIN_QUANTITY)
    if set(held) & set(states):  # committed + unavailable: each, and their sum
        bounds.append(_sum([after[name] for name in held]) <= MAX_QUANTITY)
    if set(ON_HAND_STATES) & set(states):
        bounds.append(_sum([after[name] for name in ON_HAND_STATES]) <= MAX_QUANTITY)
    if "incoming" in states:
        bounds.append(after["incoming"] <= MAX_QUANTITY)
    return tuple(bounds)


def _level_change(states: Moved, *, compared: bool = False) -> Update:
    """Move the `states` by their deltas, refusing (no row) what would go below zero (or,
    for `available`, what its policy forbids), past INTEGER, or touch a deleted product's
    stock. The variant's total is always guarded: a multi-level change moves it at the item's
    last level, whichever states that level moves.

    `compared` (SQLite's `set`): also refuse when `available` is not `p_compare`.
    """
    before = {name: _big(LEVELS.c[name]) for name in STATES}
    after = {
        name: before[name] + DELTAS[name] if name in states else before[name] for name in STATES
    }
    moved = or_(*(DELTAS[name] != 0 for name in states))
    guards = [*_at_changeable_level()]
    if "available" in states:
        guards.append(_available_allowed(after["available"], before["available"], BY_POLICY))
    guards += [after[name] >= 0 for name in OTHER_STATES if name in states]
    guards += [
        *_bounds(after, states),
        live_variant_quantity() + VARIANT_DELTA <= MAX_QUANTITY,
        live_variant_quantity() + VARIANT_DELTA >= MIN_QUANTITY,
    ]
    if compared:
        guards.append(or_(COMPARE.is_(None), LEVELS.c.available == COMPARE))
    available_delta = D_AVAILABLE if "available" in states else literal_column("0", Integer)
    return (
        update(LEVELS)
        .where(*guards)
        .values(
            **{name: LEVELS.c[name] + DELTAS[name] for name in states},
            # A zero change (SQLite's set of the value already held) leaves the level as it was.
            version=LEVELS.c.version + case((moved, 1), else_=0),
            updated_at=case((moved, NOW), else_=LEVELS.c.updated_at),
        )
        .returning(*LEVEL_COLUMNS, available_delta.label("available_delta"))
    )


def _level_set() -> Update:
    """PostgreSQL: set available absolutely and return the delta from the value it replaced.

    The FOR UPDATE subquery locks the row first (waiting out a concurrent writer, then reading
    its committed value), so the old value the delta comes from is the one replaced; the
    UPDATE's own WHERE is evaluated again on that latest row (PostgreSQL's recheck of an
    updated row), so `compareQuantity` is compared with the value actually replaced.
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
    after = {name: _big(LEVELS.c[name]) for name in STATES}
    after["available"] = _big(AVAILABLE)
    new_total = old.c.variant_quantity + AVAILABLE - old.c.old_available
    return (
        update(LEVELS)
        .where(
            LEVELS.c.id == old.c.level_id,
            or_(COMPARE.is_(None), LEVELS.c.available == COMPARE),
            _available_allowed(after["available"], _big(LEVELS.c.available), literal_true()),
            *_bounds(after, ("available",)),
            new_total <= MAX_QUANTITY,
            new_total >= MIN_QUANTITY,
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


def literal_true() -> ColumnElement[bool]:
    return literal_column("true", Boolean)


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


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _writes(
    lvl: NamedFromClause,
    kind: Kind,
    states: Moved,
    variant_delta: ColumnElement[int],
    json_object: Callable[..., ColumnElement[Any]],
) -> Writes:
    """The three writes, reading the changed level from `lvl`.

    `lvl` has the level's columns after the change plus `available_delta`; `variant_delta` is
    what the variant's total moves by (several levels of one item changed together move it
    once, with their sum, after the last of them). The log gets one row per state in `states`
    whose delta is not zero (a `set` moves only `available`).
    """
    deltas: dict[str, ColumnElement[int]] = {
        name: lvl.c.available_delta if name == "available" else DELTAS[name] for name in states
    }
    zero = literal_column("0", Integer)
    rows = [
        select(
            lvl.c.inventory_item_id, lvl.c.location_id, _constant(name), delta, REASON, NOTE, NOW
        ).where(delta != 0)
        for name, delta in deltas.items()
    ]
    log = insert(ADJUSTMENTS).from_select(
        [
            "inventory_item_id",
            "location_id",
            "quantity_name",
            "quantity_adjustment",
            "reason",
            "note",
            "created_at",
        ],
        rows[0] if len(rows) == 1 else union_all(*rows),
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
    unavailable = _sum([lvl.c[name] for name in UNAVAILABLE_STATES])
    body: list[ColumnElement[Any]] = [
        _constant("inventoryItemId"),
        lvl.c.inventory_item_id,
        _constant("locationId"),
        lvl.c.location_id,
    ]
    for name in STATES:
        body += [_constant(_camel(name)), lvl.c[name]]
    body += [
        _constant("unavailable"),
        unavailable,
        _constant("onHand"),
        # In this order each partial sum lies between available and on hand: no overflow.
        lvl.c.available + lvl.c.committed + unavailable,
        _constant("availableDelta"),
        lvl.c.available_delta,
    ]
    if kind == "change":
        for name in OTHER_STATES:
            body += [_constant(f"{_camel(name)}Delta"), deltas.get(name, zero)]
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


def moved(deltas: Mapping[str, int]) -> Moved:
    """The states a change moves, in STATES order; a change moving nothing is an `available`
    change by 0 (it is still applied, guarded and recorded as an event)."""
    return tuple(name for name in STATES if deltas.get(name)) or ("available",)


@cache
def postgres_change(kind: Kind, states: Moved = ("available",)) -> Select[*tuple[Any, ...]]:
    """The whole change in one statement; returns the changed level, or no row if refused.

    Built per set of moved states (a `set` moves `available`): an adjustment of `available`,
    the busiest write, carries no SET, guard or log row for the states it leaves alone.
    """
    level = _level_change(states) if kind == "change" else _level_set()
    lvl = level.cte("lvl")
    variant_delta = VARIANT_DELTA if kind == "change" else lvl.c.available_delta
    writes = _writes(lvl, kind, states, variant_delta, func.jsonb_build_object)
    variant = writes.variant.cte("variant")
    changed_product = select(variant.c.product_id).scalar_subquery().label("product_id")
    return select(
        *(lvl.c[column.name] for column in LEVEL_COLUMNS), lvl.c.available_delta, changed_product
    ).add_cte(writes.log.cte("log"), variant, writes.event.cte("event"))


@cache
def sqlite_writes(kind: Kind, states: Moved = ("available",)) -> Writes:
    """The writes after SQLite's level UPDATE, with `lvl` read back by `level_id`."""
    lvl = (
        select(*LEVEL_COLUMNS, AVAILABLE_DELTA.label("available_delta"))
        .where(LEVELS.c.id == LEVEL_ID)
        .subquery("lvl")
    )
    return _writes(lvl, kind, states, VARIANT_DELTA, func.json_object)


@cache
def sqlite_level_change(kind: Kind, states: Moved = ("available",)) -> Update:
    """SQLite's level UPDATE; a `set` runs as a change of `available` by the difference,
    compared."""
    return _level_change(states, compared=kind == "set")


@cache
def probe() -> Select[Any]:
    """Why a change matched no level: the location's `active` (None if missing), the variant's
    total (None: no item, or its product is deleted), whether its stock is limited (None: no
    item), and the level's states (all None: no level)."""
    at_level = (LEVELS.c.inventory_item_id == ITEM_ID, LEVELS.c.location_id == LOCATION_ID)
    return select(
        select(LOCATIONS.c.active).where(LOCATIONS.c.id == LOCATION_ID).scalar_subquery(),
        live_variant_quantity(),
        stock_limited(),
        *(select(LEVELS.c[name]).where(*at_level).scalar_subquery() for name in STATES),
    )


def live_item_ids() -> Select[int]:
    """Inventory items whose product is not soft-deleted: reads show only their stock."""
    return select(ITEMS.c.id).where(
        VARIANTS.c.id == ITEMS.c.product_variant_id,
        PRODUCTS.c.id == VARIANTS.c.product_id,
        PRODUCTS.c.deleted_at.is_(None),
    )

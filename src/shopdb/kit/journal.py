"""The change journal: what a transaction changed, for whoever must react once it commits.

A write notes what it changed, by kind and id, without knowing who cares:

    journal.note(session, journal.PRODUCT, [product_id], listing=False)

Readers of another domain's changes (the product cache today; webhooks and search later)
subscribe to a kind in the wiring (shopdb.services), never by being imported by the writer.
`Journal.deliver` is a `Database.after_commit` hook: it runs each subscriber once the unit of
work has committed, before the response leaves. A change committed outside any session (the
self-committing stock adjustments) is delivered with `Journal.publish`.

Notes live on the session (`session.info`). The listeners that keep them honest (`track`)
are registered on shopdb's own session class (shopdb.db.ShopdbSession), so another library's
sessions are never touched:

- when the outermost transaction commits, its notes become committed, to be delivered;
- when it ends otherwise (rolled back, or closed without a commit), its notes are dropped:
  nothing reaches a subscriber for a change that never happened.

A savepoint that rolls back keeps the notes made inside it: subscribers may then hear of a
change that was undone, which for an invalidation costs only a cache miss, whereas dropping
them could lose the notes of the enclosing transaction, whose changes do commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

log = structlog.get_logger(__name__)

# The kinds in use, shared by writers and subscribers.
PRODUCT = "product"  # a product's document (product, variants, options, images, tags, stock)
# A placed order's document (the order, its lines, transactions, fulfillments, refunds):
# noted by OrderRepository.lock_placed, which every change to a placed order takes first.
ORDER = "order"
# An inventory location (its row): noted by inventory's flush listener (shopdb.wiring).
LOCATION = "location"
# What smart collections' product pages show: a collection, its manual positions, metafields
# rules match on (ids: collections; `membership`: any page), stock and units sold (`listing`
# alone: the pages of collections sorted by sales or filtered by stock).
COLLECTION = "collection"
# The shop's settings read per checkout (ids: the settings families of kit.settings_cache).
SETTINGS = "settings"

_PENDING = "shopdb.journal.pending"  # this transaction's notes
_COMMITTED = "shopdb.journal.committed"  # committed, not yet delivered


@dataclass
class Changes:
    """What changed of one kind: the ids, and whether lists of that kind may have changed,
    not only the things themselves.

    `listing`: lists ordered or filtered by update time may have changed (the things were
    written). `membership`: any list may have changed, which things it holds or their order
    by another key (a title, a vendor, a status, a deletion...); it implies `listing`.
    """

    ids: set[int] = field(default_factory=set)
    listing: bool = False
    membership: bool = False

    def add(self, other: Changes) -> None:
        self.ids |= other.ids
        self.listing = self.listing or other.listing
        self.membership = self.membership or other.membership


Notes = dict[str, Changes]
Subscriber = Callable[[Changes], Awaitable[None]]


def note(
    session: Session | AsyncSession,
    kind: str,
    ids: Iterable[int | None],
    *,
    listing: bool = True,
    membership: bool | None = None,
) -> None:
    """Note that this transaction changes these things (None ids are ignored).

    `listing=False` when the change cannot alter lists of them (a variant's inventory
    quantity: no product list filters or sorts on it), so cached lists survive it.
    `membership=False` when it alters only lists by update time (see Changes); by default,
    any list.
    """
    pending: Notes = session.info.setdefault(_PENDING, {})
    changes = pending.get(kind)
    if changes is None:
        changes = pending[kind] = Changes()
    changes.ids.update(i for i in ids if i is not None)
    changes.listing = changes.listing or listing
    changes.membership = changes.membership or (listing if membership is None else membership)


def uncommitted(session: Session | AsyncSession, kind: str) -> Changes:
    """What `session` has noted of `kind` and not yet committed (read it, do not change it)."""
    pending: Notes | None = session.info.get(_PENDING)
    found = None if pending is None else pending.get(kind)
    return Changes() if found is None else found


def take_committed(session: Session | AsyncSession) -> Notes:
    """The committed notes not yet delivered, forgetting them."""
    committed: Notes = session.info.pop(_COMMITTED, {})
    return committed


def _committed(session: Session) -> None:
    # after_commit also fires when a savepoint is released; only the outermost commit counts.
    if session.in_nested_transaction():
        return
    pending: Notes | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    committed: Notes = session.info.setdefault(_COMMITTED, {})
    for kind, changes in pending.items():
        committed.setdefault(kind, Changes()).add(changes)


def _ended(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended: committed notes were moved by _committed already, so
    # whatever is still pending belongs to a rollback (or a close without commit).
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def track(session_class: type[Session]) -> None:
    """Keep the notes of `session_class`'s sessions (and its subclasses') in step with their
    transactions; call once per class."""
    event.listen(session_class, "after_commit", _committed)
    event.listen(session_class, "after_transaction_end", _ended)


class Journal:
    """The subscribers of each kind, and the delivery of committed notes to them."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Subscriber]] = {}

    def subscribe(self, kind: str, subscriber: Subscriber) -> None:
        self._subscribers.setdefault(kind, []).append(subscriber)

    async def deliver(self, session: AsyncSession) -> None:
        """A Database.after_commit hook: what the session committed, to its subscribers."""
        committed = take_committed(session)
        for kind, changes in committed.items():
            await self.publish(kind, changes)

    async def publish(self, kind: str, changes: Changes) -> None:
        """Tell the subscribers of `kind` about committed changes. Never raises: the change
        is committed and its response must still succeed; one subscriber's failure (a bug:
        subscribers handle their own errors) neither stops the others nor reaches the client.
        """
        for subscriber in self._subscribers.get(kind, ()):
            try:
                await subscriber(changes)
            except Exception:
                log.exception("journal.subscriber_failed", kind=kind, ids=sorted(changes.ids))

"""What a flush or statement changed of the shop's settings, noted in the change journal
(shopdb.kit.journal, kind SETTINGS) for the settings cache (Services.settings_cache,
kit/shared_reads.py) to forget after the commit.

The settings are read per checkout and order placement, keyed by a country, a province, a
currency or a set of zones: any change of their tables may change any of them, so every change
moves the settings' one generation (`membership`), and they are all read again. Settings change
a few times a year; checkouts read them thousands of times a day.

Both the ORM's flushes and the ORM-enabled UPDATE/DELETE statements a repository sends through
the session (the tax rates' and shipping zones' deletes) are seen: the writers need not
cooperate. What is read and how: tax/service.py (compute_tax), markets/pricing.py
(price_in_market), shipping/service.py (quotes and the chosen rate's zones).
"""

from __future__ import annotations

from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from shopdb.kit import journal
from shopdb.models import (
    CurrencySettings,
    Market,
    MarketRegion,
    ShippingRate,
    ShippingZone,
    TaxRate,
)

SETTINGS_MODELS = (TaxRate, Market, MarketRegion, CurrencySettings, ShippingZone, ShippingRate)
_TABLES = {model.__tablename__ for model in SETTINGS_MODELS}


def note_flushed_settings(session: Session, _flush: UOWTransaction) -> None:
    """An "after_flush" listener (shopdb.wiring)."""
    for rows in (session.new, session.dirty, session.deleted):
        if any(isinstance(row, SETTINGS_MODELS) for row in rows):
            journal.note(session, journal.SETTINGS, ())
            return


def note_settings_statements(state: ORMExecuteState) -> None:
    """A "do_orm_execute" listener (shopdb.wiring): UPDATE and DELETE statements no flush sees."""
    if state.is_update or state.is_delete:
        table = getattr(getattr(state.statement, "table", None), "name", None)
        if table in _TABLES:
            journal.note(state.session, journal.SETTINGS, ())

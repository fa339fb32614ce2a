"""Selling plan rules with no database: billing intervals and what a pricing policy charges.

A policy is stored as the JSON the API takes (camelCase keys): a billing or delivery policy
`{"interval": "month", "intervalCount": 1}` (no interval: billed once, not a subscription),
a pricing policy `{"adjustmentType": "percentage", "adjustmentValue": "10"}` (`{}`: the
catalog price). The schemas validate them on the way in; these read them back.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

ZERO = Decimal(0)
HUNDRED = Decimal(100)


def recurring_interval(billing_policy: dict[str, Any] | None) -> tuple[str, int] | None:
    """(interval, count) of a recurring billing policy; None for a one-time plan."""
    if not billing_policy or not billing_policy.get("interval"):
        return None
    return str(billing_policy["interval"]), int(billing_policy.get("intervalCount") or 1)


def add_interval(start: date, interval: str, count: int) -> date:
    """`start` plus `count` intervals. Months and years keep the day of the month, clamped to
    the month's last day (Jan 31 + 1 month = Feb 28/29): computed from the anchor each time,
    so a contract anchored on the 31st bills on the 31st again whenever the month has one."""
    if interval == "day":
        return start + timedelta(days=count)
    if interval == "week":
        return start + timedelta(weeks=count)
    months = count * (12 if interval == "year" else 1)
    if interval not in ("month", "year"):
        raise ValueError(f"unknown interval {interval!r}")
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def cycle_date(anchor: date, interval: str, count: int, cycle: int) -> date:
    """The billing date of cycle `cycle` (0: the anchor, the origin order's date)."""
    return add_interval(anchor, interval, count * cycle)


def adjusted_price(price: Decimal, pricing_policy: dict[str, Any] | None, step: Decimal) -> Decimal:
    """The unit price under `pricing_policy`, rounded half up to `step` (the currency's minor
    unit): a percentage off, a fixed amount off, or a fixed price; never below zero."""
    if not pricing_policy or not pricing_policy.get("adjustmentType"):
        return price
    kind = pricing_policy["adjustmentType"]
    value = Decimal(str(pricing_policy.get("adjustmentValue", "0")))
    if kind == "percentage":
        adjusted = price * (HUNDRED - value) / HUNDRED
    elif kind == "fixed_amount":
        adjusted = price - value
    elif kind == "price":
        adjusted = value
    else:
        raise ValueError(f"unknown adjustment type {kind!r}")
    return max(adjusted, ZERO).quantize(step, rounding=ROUND_HALF_UP)


def start_of(day: date) -> datetime:
    """Midnight UTC of `day`: when a cycle dated `day` is first due."""
    return datetime.combine(day, time(0), tzinfo=UTC)

"""Marketing consent as Shopify keeps it: one record per channel (email, SMS).

A record is a state (`subscribed`, `not_subscribed`, `pending`, `unsubscribed`, `redacted`),
an opt-in level (`single_opt_in`, `confirmed_opt_in`, `unknown`, after the M3AAWG guidelines)
and `consentUpdatedAt`, when the consent was last given or withdrawn. The rules, from Shopify's
`customerEmailMarketingConsentUpdate` / `customerSmsMarketingConsentUpdate`:

- a client sets `subscribed`, `pending` or `unsubscribed`. `not_subscribed` is the state of a
  customer who never subscribed (opting out is `unsubscribed`) and `redacted` is set when a
  customer's personal data is erased: neither can be set, though sending back the state the
  customer already has (a GET, then a PUT of what was read) changes nothing and is accepted;
- `pending` is a confirmed (double) opt-in waiting for its confirmation: its level is
  `confirmed_opt_in`, the default when none is sent, and any other level is refused;
  `subscribed` without a level keeps the one in force, else `single_opt_in`;
- `consentUpdatedAt` may be sent, for consent collected earlier (an import, a shop
  till), but never in the future; when none is sent the server stamps the moment the state
  changes, and keeps the old date when it does not;
- SMS consent needs a phone: a customer without one cannot be `subscribed` or `pending`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shopdb.errors import ValidationFailed
from shopdb.models import Customer

SETTABLE_STATES = ("subscribed", "pending", "unsubscribed")
# States under which a message may be sent (pending: the confirmation request itself).
REACHABLE_STATES = ("subscribed", "pending")


@dataclass(frozen=True)
class Consent:
    state: str = "not_subscribed"
    opt_in_level: str | None = None
    consent_updated_at: datetime | None = None


NEVER_ASKED = Consent()


def current(customer: Customer, channel: str) -> Consent:
    return Consent(
        state=getattr(customer, f"{channel}_marketing_state"),
        opt_in_level=getattr(customer, f"{channel}_marketing_opt_in_level"),
        consent_updated_at=getattr(customer, f"{channel}_marketing_consent_updated_at"),
    )


def store(customer: Customer, channel: str, consent: Consent) -> None:
    setattr(customer, f"{channel}_marketing_state", consent.state)
    setattr(customer, f"{channel}_marketing_opt_in_level", consent.opt_in_level)
    setattr(customer, f"{channel}_marketing_consent_updated_at", consent.consent_updated_at)


def apply(before: Consent, requested: dict[str, Any], *, field: str, now: datetime) -> Consent:
    """The record after a client's request (`state`, and optionally `opt_in_level` and
    `consent_updated_at`, snake_case); `field` names it in errors (`emailMarketingConsent`)."""
    state: str = requested["state"]
    level: str | None = requested.get("opt_in_level")
    given_at: datetime | None = requested.get("consent_updated_at")
    if state != before.state and state not in SETTABLE_STATES:
        reason = (
            "a customer who opted out is unsubscribed; not_subscribed is only for one who "
            "never subscribed"
            if state == "not_subscribed"
            else "redacted is set only when the customer's personal data is erased"
        )
        raise ValidationFailed.on(f"{field}.state", f"cannot be set to {state}: {reason}")
    if given_at is not None and given_at > now:
        raise ValidationFailed.on(f"{field}.consentUpdatedAt", "must not be in the future")
    if state == "pending":
        if level not in (None, "confirmed_opt_in"):
            raise ValidationFailed.on(
                f"{field}.optInLevel", "must be confirmed_opt_in for the pending state"
            )
        level = "confirmed_opt_in"
    elif level is None:
        level = before.opt_in_level
        if state == "subscribed" and level is None:
            level = "single_opt_in"
    if given_at is None:
        given_at = now if state != before.state else before.consent_updated_at
    return replace(before, state=state, opt_in_level=level, consent_updated_at=given_at)


def check_sms_reachable(consent: Consent, phone: str | None, *, field: str) -> None:
    """SMS consent only makes sense with a phone to send to."""
    if phone is None and consent.state in REACHABLE_STATES:
        message = (
            f"a customer without a phone cannot be {consent.state} to SMS marketing"
            if field == "smsMarketingConsent"
            else f"cannot be removed while the customer is {consent.state} to SMS marketing; "
            "unsubscribe them first (smsMarketingConsent)"
        )
        raise ValidationFailed.on(field, message)

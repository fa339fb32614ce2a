"""Markets: countries grouped to sell in one currency and locale, and how orders shipped
there are priced (pricing.py, rules.py)."""

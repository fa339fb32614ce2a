from __future__ import annotations

# The committing PostgreSQL app of the orders tests: completions race on it for real.
from tests.orders.conftest import Live, live, live_database

__all__ = ["Live", "live", "live_database"]

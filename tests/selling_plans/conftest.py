from __future__ import annotations

import httpx
import pytest

from shopdb.db import Database
from tests.fixtures.catalog import Headers
from tests.selling_plans.helpers import Shop, make_shop


@pytest.fixture
async def shop(client: httpx.AsyncClient, admin: Headers, database: Database) -> Shop:
    return await make_shop(client, admin, database)

"""Two owners writing the same `id` value at the same moment: exactly one gets it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from shopdb.auth.dependencies import Subject
from shopdb.db import Database
from shopdb.errors import ShopdbError
from shopdb.metafields import service
from shopdb.metafields.schemas import MetafieldWrite
from shopdb.models import Metafield, Product

pytestmark = pytest.mark.postgres_only

WRITER = Subject(
    kind="user",
    user_id=1,
    permissions=frozenset({"metafields:write", "products:write", "products:read"}),
)


async def write_id(database: Database, owner_id: int, value: str) -> str:
    try:
        async with database.session() as session:
            data = MetafieldWrite.model_validate(
                {
                    "ownerResource": "products",
                    "ownerId": owner_id,
                    "namespace": "erp",
                    "key": "external_id",
                    "type": "id",
                    "value": value,
                }
            )
            await service.upsert_metafield(session, WRITER, data)
    except ShopdbError as refused:
        return refused.code
    return "written"


class TestConcurrentIds:
    async def test_one_value_racing_from_eight_owners_is_taken_once(
        self, live_postgres: Database
    ) -> None:
        async with live_postgres.session() as session:
            products = [Product(title=f"P{n}", handle=f"race-id-{n}") for n in range(8)]
            session.add_all(products)
            await session.flush()
            owners = [p.id for p in products]

        answers = await asyncio.wait_for(
            asyncio.gather(*(write_id(live_postgres, owner, "ERP-42") for owner in owners)),
            timeout=60,
        )

        assert sorted(answers) == ["METAFIELD_VALUE_TAKEN"] * 7 + ["written"]
        async with live_postgres.session() as session:
            holders = await session.scalars(
                select(Metafield.owner_id).where(Metafield.namespace == "erp")
            )
            assert list(holders) == [owners[answers.index("written")]]

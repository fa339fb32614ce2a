"""Driver errors that mean "another transaction got in the way" leave as stable 409s."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.inventory import service
from shopdb.inventory.errors import InventoryChangedConcurrently
from shopdb.inventory.repository import InventoryLevelRepository


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_a_deadlock_or_serialisation_failure_is_a_409_naming_the_item(
    monkeypatch: pytest.MonkeyPatch, db_session: AsyncSession, sqlstate: str
) -> None:
    # A deadlock needs another domain locking a variant before its level; what matters here
    # is what the caller hears when the database picks this transaction as the victim.
    async def deadlocked(*_args: Any, **_kwargs: Any) -> None:
        raise DBAPIError("UPDATE ...", {}, DriverError(sqlstate))

    monkeypatch.setattr(InventoryLevelRepository, "apply_change", deadlocked)

    with pytest.raises(InventoryChangedConcurrently) as refused:
        await service.change_levels(db_session, [service.LevelChange(1, 1, available=-1)])

    assert (refused.value.status_code, refused.value.code) == (
        409,
        "INVENTORY_CHANGED_CONCURRENTLY",
    )
    assert refused.value.details == [
        {"field": "inventoryItemId", "message": "was being changed by another request"}
    ]


async def test_other_driver_errors_pass_through(
    monkeypatch: pytest.MonkeyPatch, db_session: AsyncSession
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise DBAPIError("UPDATE ...", {}, DriverError("08006"))  # connection failure

    monkeypatch.setattr(InventoryLevelRepository, "apply_change", broken)

    with pytest.raises(DBAPIError):
        await service.change_levels(db_session, [service.LevelChange(1, 1, available=-1)])

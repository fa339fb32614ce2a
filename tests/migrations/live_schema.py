"""A migrated database's schema as plain data, read once through SQLAlchemy's inspector."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class LiveTable:
    columns: dict[str, dict[str, Any]]
    primary_key: list[str]
    foreign_keys: list[dict[str, Any]]
    unique_constraints: list[dict[str, Any]]
    indexes: list[dict[str, Any]]
    checks: list[dict[str, Any]]

    def unique_column_sets(self) -> list[tuple[str, ...]]:
        """Columns made unique over all rows: unique constraints and full unique indexes."""
        found = [tuple(u["column_names"]) for u in self.unique_constraints]
        found += [
            tuple(ix["column_names"]) for ix in self.indexes if ix["unique"] and not is_partial(ix)
        ]
        return found


@dataclass
class LiveSchema:
    dialect: str
    tables: dict[str, LiveTable] = field(default_factory=dict)


def is_partial(index: dict[str, Any]) -> bool:
    options = index.get("dialect_options", {})
    return any(options.get(key) is not None for key in ("postgresql_where", "sqlite_where"))


def _read(connection: Connection) -> LiveSchema:
    inspector = inspect(connection)
    schema = LiveSchema(dialect=connection.dialect.name)
    for name in inspector.get_table_names():
        schema.tables[name] = LiveTable(
            columns={c["name"]: dict(c) for c in inspector.get_columns(name)},
            primary_key=list(inspector.get_pk_constraint(name)["constrained_columns"]),
            foreign_keys=[dict(fk) for fk in inspector.get_foreign_keys(name)],
            unique_constraints=[dict(u) for u in inspector.get_unique_constraints(name)],
            indexes=[dict(ix) for ix in inspector.get_indexes(name)],
            checks=[dict(ck) for ck in inspector.get_check_constraints(name)],
        )
    return schema


async def read_schema(engine: AsyncEngine) -> LiveSchema:
    async with engine.connect() as connection:
        return await connection.run_sync(_read)

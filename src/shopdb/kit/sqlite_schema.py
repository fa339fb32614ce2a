"""Changing a SQLite table's constraints in place, for migrations.

SQLite cannot add a foreign key or a CHECK to an existing table. Alembic's batch mode copies
the table into a new one, which on a table other tables refer to with ON DELETE CASCADE
deletes their rows (the old table is dropped) and on a large table copies every row. A
constraint that the existing rows already satisfy (a new nullable column's foreign key, a
CHECK the data keeps) can instead be written into the table's stored CREATE TABLE text: the
rows are unchanged, SQLite reads the schema again (schema_version), and an integrity check
confirms the file is sound. Revisions 0020, 0027 and 0028 do so.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import Connection


def rewrite_table_sql(bind: Connection, table: str, pattern: str, replacement: str) -> None:
    """Replace `pattern` (a regular expression, once) in `table`'s CREATE TABLE text."""
    select_sql = "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?"
    sql = bind.exec_driver_sql(select_sql, (table,)).scalar_one()
    changed, count = re.subn(pattern, lambda _: replacement, sql, count=1)
    if count != 1:
        raise RuntimeError(f"{pattern!r} is not in the schema of {table}: {sql}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (changed, table)
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = bind.exec_driver_sql("PRAGMA integrity_check").scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"integrity check after changing {table}: {problems}")

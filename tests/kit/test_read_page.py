"""kit.pagination.read_page: offset and keyset pages of any statement, with null sort keys,
ties on the sort key, both directions, and the opt-in total (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import ValidationFailed
from shopdb.kit.pagination import (
    MAX_OFFSET,
    Cursor,
    Direction,
    PageRequest,
    decode_cursor,
    read_page,
    read_requested_page,
)
from shopdb.kit.types import UTCDateTime

metadata = MetaData()
rows_table = Table(
    "test_read_page_rows",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(50), nullable=True),
    Column("rank", Integer, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _seed() -> list[dict[str, Any]]:
    """40 rows: names with ties and a third of them null, ranks in 4 tie groups, times with
    ties, ids not in the order of any key."""
    names = ["b", None, "a", "c", "b", None, "a", "a", None, "c"]
    seeded = []
    for index in range(40):
        row_id = (index * 17) % 41 + 1  # 1..41, shuffled
        seeded.append(
            {
                "id": row_id,
                "name": names[index % len(names)],
                "rank": index % 4,
                "at": T0 + timedelta(minutes=index % 7),
            }
        )
    return seeded


SEEDED = _seed()


@pytest.fixture
async def session(db_session: AsyncSession) -> AsyncSession:
    connection = await db_session.connection()
    await connection.run_sync(metadata.create_all)
    await db_session.execute(insert(rows_table), SEEDED)
    return db_session


def expected_ids(column: str, direction: Direction, *, keep: Any = None) -> list[int]:
    """The order read_page promises: keyed rows by (key, id), then null keys by id, each in
    `direction`; nulls last either way."""
    rows = [r for r in SEEDED if keep is None or keep(r)]
    reverse = direction == "desc"
    keyed = sorted(
        (r for r in rows if r[column] is not None),
        key=lambda r: (r[column], r["id"]),
        reverse=reverse,
    )
    nulls = sorted((r for r in rows if r[column] is None), key=lambda r: r["id"], reverse=reverse)
    return [r["id"] for r in keyed + nulls]


SORTS = [
    ("name", str, True),
    ("rank", int, False),
    ("at", datetime, False),
    ("id", int, False),
]


async def walk(
    session: AsyncSession,
    column: str,
    direction: Direction,
    page_size: int,
    *,
    nulls_last: bool,
    statement: Any = None,
) -> tuple[list[int], int]:
    """Every id, page after page by cursor; and how many pages that took."""
    statement = statement if statement is not None else select(rows_table.c.id)
    seen: list[int] = []
    cursor: Cursor | None = None
    pages = 0
    while True:
        found = await read_page(
            session,
            statement,
            sort_column=rows_table.c[column],
            id_column=rows_table.c.id,
            direction=direction,
            page=1,
            page_size=page_size,
            cursor=cursor,
            sort_name=column,
            with_total=False,
            nulls_last=nulls_last,
        )
        pages += 1
        seen.extend(found.rows)
        assert found.total is None
        if found.next_cursor is None:
            return seen, pages
        assert len(found.rows) == page_size
        cursor = Cursor.decode(found.next_cursor)
        assert pages <= len(SEEDED) + 1, "the walk does not end"


class TestCursorWalk:
    @pytest.mark.parametrize(("column", "key_type", "nulls_last"), SORTS)
    @pytest.mark.parametrize("direction", ["asc", "desc"])
    @pytest.mark.parametrize("page_size", [1, 3, 7, 40, 100])
    async def test_visits_every_row_once_in_order(
        self,
        session: AsyncSession,
        column: str,
        key_type: type,
        nulls_last: bool,
        direction: Direction,
        page_size: int,
    ) -> None:
        seen, pages = await walk(session, column, direction, page_size, nulls_last=nulls_last)
        assert seen == expected_ids(column, direction)
        assert pages == max(1, -(-len(SEEDED) // page_size))

    @pytest.mark.parametrize("direction", ["asc", "desc"])
    async def test_walk_keeps_the_filter(self, session: AsyncSession, direction: Direction) -> None:
        filtered = select(rows_table.c.id).where(rows_table.c.rank != 1)
        seen, _pages = await walk(
            session, "name", direction, 4, nulls_last=True, statement=filtered
        )
        assert seen == expected_ids("name", direction, keep=lambda r: r["rank"] != 1)


class TestOffsetPages:
    @pytest.mark.parametrize(("column", "key_type", "nulls_last"), SORTS)
    @pytest.mark.parametrize("direction", ["asc", "desc"])
    async def test_every_offset_page_is_its_slice(
        self,
        session: AsyncSession,
        column: str,
        key_type: type,
        nulls_last: bool,
        direction: Direction,
    ) -> None:
        everything = expected_ids(column, direction)
        page_size = 6
        for page in range(1, 10):
            found = await read_page(
                session,
                select(rows_table.c.id),
                sort_column=rows_table.c[column],
                id_column=rows_table.c.id,
                direction=direction,
                page=page,
                page_size=page_size,
                cursor=None,
                sort_name=column,
                with_total=False,
                nulls_last=nulls_last,
            )
            start = (page - 1) * page_size
            assert found.rows == everything[start : start + page_size], page
            has_next = start + page_size < len(everything)
            assert (found.next_cursor is not None) == has_next
            if has_next:
                # The cursor of an offset page continues exactly where the page ends.
                after = await read_page(
                    session,
                    select(rows_table.c.id),
                    sort_column=rows_table.c[column],
                    id_column=rows_table.c.id,
                    direction=direction,
                    page=1,
                    page_size=page_size,
                    cursor=Cursor.decode(str(found.next_cursor)),
                    sort_name=column,
                    with_total=False,
                    nulls_last=nulls_last,
                )
                assert after.rows == everything[start + page_size : start + 2 * page_size]

    async def test_refuses_pages_beyond_the_offset_depth(self, session: AsyncSession) -> None:
        with pytest.raises(ValidationFailed) as refused:
            await read_requested_page(
                session,
                select(rows_table.c.id),
                PageRequest(page=MAX_OFFSET // 50 + 1, page_size=50),
                sort_column=rows_table.c.id,
                id_column=rows_table.c.id,
            )
        assert refused.value.details[0]["field"] == "page"
        assert "cursor" in refused.value.details[0]["message"]

    async def test_the_deepest_allowed_page_is_served(self, session: AsyncSession) -> None:
        found = await read_requested_page(
            session,
            select(rows_table.c.id),
            PageRequest(page=MAX_OFFSET // 50, page_size=50),
            sort_column=rows_table.c.id,
            id_column=rows_table.c.id,
        )
        assert found.rows == []
        assert found.next_cursor is None


class TestTotals:
    async def test_no_total_unless_asked(self, session: AsyncSession) -> None:
        found = await read_requested_page(
            session,
            select(rows_table.c.id),
            PageRequest(page_size=5),
            sort_column=rows_table.c.id,
            id_column=rows_table.c.id,
        )
        assert found.total is None
        assert len(found.rows) == 5

    async def test_total_counts_the_filtered_rows_on_a_cursor_page(
        self, session: AsyncSession
    ) -> None:
        statement = select(rows_table.c.id).where(rows_table.c.name.is_(None))
        first = await read_requested_page(
            session,
            statement,
            PageRequest(page_size=2),
            sort_column=rows_table.c.id,
            id_column=rows_table.c.id,
        )
        second = await read_requested_page(
            session,
            statement,
            PageRequest(page_size=2, cursor=first.next_cursor, with_total=True),
            sort_column=rows_table.c.id,
            id_column=rows_table.c.id,
        )
        assert second.total == sum(1 for r in SEEDED if r["name"] is None) == 12


class TestRowsShape:
    async def test_a_multi_column_statement_yields_rows_with_their_names(
        self, session: AsyncSession
    ) -> None:
        found = await read_requested_page(
            session,
            select(rows_table.c.id, rows_table.c.name),
            PageRequest(page_size=2),
            sort_column=rows_table.c.name,
            id_column=rows_table.c.id,
            sort_name="name",
            key_type=str,
            nulls_last=True,
        )
        ordered = expected_ids("name", "asc")[:2]
        assert [row.id for row in found.rows] == ordered
        assert [row.name for row in found.rows] == ["a", "a"]


class TestCursorChecks:
    def test_a_cursor_of_another_sort_is_refused(self) -> None:
        token = Cursor("name", "asc", "a", 3).encode()
        with pytest.raises(ValidationFailed) as refused:
            decode_cursor(token, sort_name="rank", direction="asc", key_type=int)
        assert refused.value.details[0]["field"] == "cursor"
        assert "sortBy=name" in refused.value.details[0]["message"]

    def test_a_cursor_of_another_direction_is_refused(self) -> None:
        token = Cursor("name", "asc", "a", 3).encode()
        with pytest.raises(ValidationFailed):
            decode_cursor(token, sort_name="name", direction="desc", key_type=str)

    def test_a_null_key_passes_only_for_a_nullable_sort(self) -> None:
        token = Cursor("name", "asc", None, 3).encode()
        found = decode_cursor(token, sort_name="name", direction="asc", key_type=str, nullable=True)
        assert found == Cursor("name", "asc", None, 3)
        with pytest.raises(ValidationFailed):
            decode_cursor(token, sort_name="name", direction="asc", key_type=str)

    def test_a_key_of_the_wrong_type_is_refused(self) -> None:
        token = Cursor("rank", "asc", "1", 3).encode()
        with pytest.raises(ValidationFailed):
            decode_cursor(token, sort_name="rank", direction="asc", key_type=int)

    def test_no_token_is_no_cursor(self) -> None:
        assert decode_cursor(None, sort_name="id", direction="asc", key_type=int) is None
        assert decode_cursor("", sort_name="id", direction="asc", key_type=int) is None

    def test_a_timestamp_key_round_trips(self) -> None:
        cursor = Cursor("at", "desc", T0 + timedelta(microseconds=7), 9)
        found = decode_cursor(cursor.encode(), sort_name="at", direction="desc", key_type=datetime)
        assert found == cursor

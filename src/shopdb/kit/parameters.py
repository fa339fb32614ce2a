"""Request parameters every domain's endpoints share, defined once so they mean the same
everywhere: page numbers, page sizes and the If-Match precondition."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query

from shopdb.kit.pagination import MAX_PAGE_SIZE

# Deeper offset pages are refused; lists that go further page by cursor.
MAX_PAGE_NUMBER = 1_000_000

PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE_NUMBER)]
PageSize = Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)]
# The ETag a client last read; a write whose resource changed since is 412 (kit.etags).
IfMatch = Annotated[str | None, Header(alias="If-Match")]

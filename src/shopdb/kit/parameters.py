"""Request parameters every domain's endpoints share, defined once so they mean the same
everywhere: page numbers, page sizes, cursors, the opt-in total and the If-Match precondition."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query

from shopdb.kit.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest

# Deeper offset pages are refused; lists that go further page by cursor.
MAX_PAGE_NUMBER = 1_000_000
# A cursor this API issues is well under this (base64 of a sort name, a key and an id).
MAX_CURSOR_LENGTH = 2048

PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE_NUMBER)]
PageSize = Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)]
# The previous page's nextCursor: the page after it, read as a keyset range (any depth at the
# cost of the first page); `page` is then ignored.
CursorToken = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)]
# Lists carry no total unless asked (`?withTotal=true`): counting reads every matching row,
# which a page of 20 must not pay for on a large store (Shopify's lists carry none either).
WithTotal = Annotated[bool, Query(alias="withTotal")]
# The ETag a client last read; a write whose resource changed since is 412 (kit.etags).
IfMatch = Annotated[str | None, Header(alias="If-Match")]


async def page_request(
    page: PageNumber = 1,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
    cursor: CursorToken = None,
    with_total: WithTotal = False,
) -> PageRequest:
    # async: FastAPI runs a plain `def` dependency on a worker thread, a cost per request.
    return PageRequest(page=page, page_size=page_size, cursor=cursor, with_total=with_total)


# `page`, `pageSize`, `cursor` and `withTotal`, as one parameter of a list endpoint.
PageQuery = Annotated[PageRequest, Depends(page_request)]

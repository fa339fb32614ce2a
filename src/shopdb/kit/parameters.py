"""Request parameters every domain's endpoints share, defined once so they mean the same
everywhere: page numbers, page sizes, the opt-in total and the If-Match precondition."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query

from shopdb.kit.pagination import MAX_PAGE_SIZE

# Deeper offset pages are refused; lists that go further page by cursor.
MAX_PAGE_NUMBER = 1_000_000

PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE_NUMBER)]
PageSize = Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)]
# Lists carry no total unless asked (`?withTotal=true`): counting reads every matching row,
# which a page of 20 must not pay for on a large store (Shopify's lists carry none either).
WithTotal = Annotated[bool, Query(alias="withTotal")]
# The ETag a client last read; a write whose resource changed since is 412 (kit.etags).
IfMatch = Annotated[str | None, Header(alias="If-Match")]

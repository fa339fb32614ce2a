"""Reading a whole list through the API, page after page by nextCursor, for list tests."""

from __future__ import annotations

from typing import Any

import httpx

MAX_PAGES = 200


async def walk_pages(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    params: dict[str, Any] | None = None,
    *,
    page_size: int = 2,
) -> list[dict[str, Any]]:
    """Every item of the list at `url`, read by cursor; each page is full but the last, and
    carries no total (none was asked for)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        query = {**(params or {}), "pageSize": page_size}
        if cursor is not None:
            query["cursor"] = cursor
        response = await client.get(url, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["totalCount"] is None
        items.extend(body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            return items
        assert len(body["items"]) == page_size
    raise AssertionError(f"{url}: no last page after {MAX_PAGES} pages")


async def read_all(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One page of up to 250 items, with its total."""
    query = {**(params or {}), "pageSize": 250, "withTotal": "true"}
    response = await client.get(url, params=query, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body

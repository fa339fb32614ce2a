"""kit.query: a query string read into one model by Pydantic, as FastAPI's `Query()` model would
be read, documented and guarded, at a fraction of the cost."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import httpx
import pytest
from fastapi import FastAPI, Query
from pydantic import Field

from shopdb.errors import install_error_handlers
from shopdb.kit.query import query_model
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import CamelModel


class ThingQuery(CamelModel):
    vendor: str | None = None
    sort_by: Literal["title", "created"] = "title"
    page_size: Annotated[int, Field(ge=1, le=250)] = 20
    tag: list[str] | None = None
    with_total: bool = False


def app_with_both() -> FastAPI:
    """The same model read by kit.query (/fast) and by FastAPI's Query() (/slow)."""
    router = domain_router("/things", tags=["things"])

    @router.get("/fast")
    async def fast(query: Annotated[ThingQuery, query_model(ThingQuery)]) -> dict[str, Any]:
        return query.model_dump()

    @router.get("/slow")
    async def slow(query: Annotated[ThingQuery, Query()]) -> dict[str, Any]:
        return query.model_dump()

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router, prefix="/api/v1")
    return app


@pytest.fixture
async def client() -> Any:
    transport = httpx.ASGITransport(app=app_with_both())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


QUERIES = [
    "",
    "?vendor=Acme&sortBy=created&pageSize=50",
    "?tag=a&tag=b&withTotal=true",
    "?tag=only",
    "?vendor=a&vendor=b",  # a repeated single value: the last one, as Starlette reads it
    "?sort_by=created",  # the field's own name: unknown on the wire (camelCase only)
]


@pytest.mark.parametrize("query", QUERIES)
async def test_reads_what_fastapi_reads(client: httpx.AsyncClient, query: str) -> None:
    fast = await client.get(f"/api/v1/things/fast{query}")
    slow = await client.get(f"/api/v1/things/slow{query}")
    assert (fast.status_code, fast.json()) == (slow.status_code, slow.json())


@pytest.mark.parametrize(
    "query",
    ["?pageSize=0", "?pageSize=abc", "?sortBy=price", "?withTotal=maybe", "?pageSize=1e3"],
)
async def test_a_bad_value_is_the_same_400_naming_the_parameter(
    client: httpx.AsyncClient, query: str
) -> None:
    fast = await client.get(f"/api/v1/things/fast{query}")
    slow = await client.get(f"/api/v1/things/slow{query}")
    assert fast.status_code == 400
    assert fast.json() == slow.json()
    name = query[1:].split("=")[0]
    assert [d["field"] for d in fast.json()["details"]] == [name]


async def test_an_unknown_parameter_is_refused_by_the_route_guard(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/things/fast?vendr=Acme")
    assert response.status_code == 400
    assert "did you mean" not in response.text  # not a near miss of a known name
    assert "vendor" in response.json()["details"][0]["message"]  # the known ones are listed


def test_the_openapi_document_shows_the_same_parameters() -> None:
    paths = app_with_both().openapi()["paths"]
    fast = paths["/api/v1/things/fast"]["get"]["parameters"]
    slow = paths["/api/v1/things/slow"]["get"]["parameters"]

    def essentials(parameters: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [
            (p["name"], p["in"], p.get("required", False), _types(p["schema"])) for p in parameters
        ]

    assert essentials(fast) == essentials(slow)
    page_size = next(p for p in fast if p["name"] == "pageSize")["schema"]
    assert (page_size["minimum"], page_size["maximum"], page_size["default"]) == (1, 250, 20)


def _types(schema: dict[str, Any]) -> Any:
    """The type of a parameter's schema, however FastAPI and Pydantic word an Optional."""
    if "anyOf" in schema:
        return sorted(str(_types(s)) for s in schema["anyOf"])
    return schema.get("type"), tuple(schema.get("enum", ())), str(schema.get("items", ""))


@pytest.mark.parametrize(
    ("query", "field"),
    [("?vendor=a%00b", "vendor"), ("?pageSize=99999999999999999999", "pageSize")],
)
async def test_the_route_guard_checks_the_models_values_too(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    """A NUL character or an integer past BIGINT is a 400 naming the parameter before the
    model reads it, as for FastAPI's own query parameters."""
    response = await client.get(f"/api/v1/things/fast{query}")
    assert response.status_code == 400, response.text
    assert [d["field"] for d in response.json()["details"]] == [field]

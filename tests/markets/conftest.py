from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.catalog import Headers, TokenFactory

MARKETS = "/api/v1/markets"
CURRENCY_SETTINGS = "/api/v1/currency-settings"


@pytest.fixture
def headers(token_for: TokenFactory) -> Headers:
    """Staff who may read and change markets and currency settings, and nothing else."""
    return token_for("markets:read", "markets:write")


async def create_settings(
    client: httpx.AsyncClient,
    headers: Headers,
    currency: str,
    rate: str,
    rule: str = "none",
) -> dict[str, Any]:
    response = await client.post(
        CURRENCY_SETTINGS,
        json={"currency": currency, "exchangeRate": rate, "roundingRule": rule},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_market(
    client: httpx.AsyncClient, headers: Headers, name: str, *countries: str, **fields: Any
) -> dict[str, Any]:
    body = {
        "name": name,
        "primaryLocale": "en",
        "regions": [{"countryCode": c} for c in countries],
        **fields,
    }
    response = await client.post(MARKETS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created

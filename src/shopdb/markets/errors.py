"""Markets' typed errors: each carries its status, a stable code and the field it is about."""

from __future__ import annotations

from shopdb.errors import Conflict, NotFound, ShopdbError


class MarketNotFound(NotFound):
    def __init__(self, market_id: int) -> None:
        super().__init__(f"Market {market_id} not found")


class MarketRegionNotFound(NotFound):
    def __init__(self, market_id: int, region_id: int) -> None:
        super().__init__(f"Region {region_id} of market {market_id} not found")


class CurrencySettingsNotFound(NotFound):
    def __init__(self, settings_id: int) -> None:
        super().__init__(f"Currency settings {settings_id} not found")


class MarketRegionExists(Conflict):
    """One region per country per market."""

    code = "MARKET_REGION_EXISTS"

    def __init__(self, country: str, field: str = "countryCode") -> None:
        super().__init__(
            f"The market already has a region for {country}",
            [{"field": field, "message": f"already has a region in this market: {country}"}],
        )


class CurrencySettingsExist(Conflict):
    code = "CURRENCY_SETTINGS_EXIST"

    def __init__(self, currency: str) -> None:
        super().__init__(
            f"Currency settings for {currency} already exist",
            [{"field": "currency", "message": f"already has settings: {currency}"}],
        )


class CurrencyInUse(Conflict):
    code = "CURRENCY_IN_USE"

    def __init__(self, currency: str) -> None:
        super().__init__(
            f"Markets are priced in {currency}: change them before deleting its settings",
            [
                {
                    "field": "currency",
                    "message": f"is the currency of a market or region: {currency}",
                }
            ],
        )


class CurrencyNotConfigured(ShopdbError):
    """A market priced in a currency that has no exchange rate (and is not the shop's)."""

    status_code = 422
    code = "CURRENCY_NOT_CONFIGURED"

    def __init__(self, currency: str, field: str = "currency") -> None:
        super().__init__(
            f"{currency} has no currency settings: create them (POST /api/v1/currency-settings)"
            " before pricing a market in it",
            [{"field": field, "message": f"has no exchange rate: {currency}"}],
        )

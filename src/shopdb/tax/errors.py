"""Tax rates' typed errors: each carries its status, a stable code and the field it is about."""

from __future__ import annotations

from shopdb.errors import Conflict, NotFound


class TaxRateNotFound(NotFound):
    def __init__(self, tax_rate_id: int) -> None:
        super().__init__(f"Tax rate {tax_rate_id} not found")


class TaxRateExists(Conflict):
    """One rate per country (province null) and one per province."""

    code = "TAX_RATE_EXISTS"

    def __init__(self, country: str, province: str | None) -> None:
        where = f"{country}-{province}" if province else f"{country} (country-wide)"
        super().__init__(
            f"A tax rate for {where} already exists",
            [
                {"field": "country", "message": f"already has a rate for {where}"},
                {"field": "province", "message": f"already has a rate for {where}"},
            ],
        )

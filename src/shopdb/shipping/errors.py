"""Shipping's typed errors: each carries its status, a stable code and the field it is about."""

from __future__ import annotations

from shopdb.errors import Conflict, NotFound, ValidationFailed


class ShippingZoneNotFound(NotFound):
    def __init__(self, zone_id: int) -> None:
        super().__init__(f"Shipping zone {zone_id} not found")


class ShippingRateNotFound(NotFound):
    def __init__(self, zone_id: int, rate_id: int) -> None:
        super().__init__(f"Shipping rate {rate_id} not found in shipping zone {zone_id}")


class ShippingZoneOverlap(Conflict):
    """An address belongs to one zone: two zones may not name the same country, province or
    the rest of the world (a province zone beside its country's zone is fine: it is closer)."""

    code = "SHIPPING_ZONE_OVERLAP"

    def __init__(self, problems: list[tuple[str, int, str]]) -> None:
        super().__init__(
            "Another shipping zone already names "
            + ", ".join(sorted({code for _field, _zone, code in problems})),
            [
                {"field": field, "message": f"{code} is already in shipping zone {zone_id}"}
                for field, zone_id, code in problems
            ],
        )


class ShippingRateNotApplicable(ValidationFailed):
    """The order names a rate that does not exist or does not apply to its address and cart."""

    code = "SHIPPING_RATE_NOT_APPLICABLE"

    def __init__(self, field: str, rate_id: int, reason: str) -> None:
        super().__init__(
            f"Shipping rate {rate_id} does not apply to this order: {reason}",
            [{"field": field, "message": reason}],
        )

"""Inventory's typed errors: each carries its status and a stable code."""

from __future__ import annotations

from shopdb.errors import Conflict, NotFound
from shopdb.kit.bounds import MAX_INT


class InsufficientInventory(Conflict):
    code = "INSUFFICIENT_INVENTORY"

    def __init__(self, inventory_item_id: int, location_id: int, field: str) -> None:
        super().__init__(
            f"Inventory item {inventory_item_id} at location {location_id} would go below zero",
            [{"field": field, "message": "would make the quantity negative"}],
        )


class LevelNotConnected(Conflict):
    code = "INVENTORY_NOT_STOCKED"

    def __init__(self, inventory_item_id: int, location_id: int) -> None:
        super().__init__(
            f"Inventory item {inventory_item_id} is not stocked at location {location_id}; "
            "connect it first",
            [{"field": "locationId", "message": "is not connected to the inventory item"}],
        )


class LocationInactive(Conflict):
    code = "LOCATION_INACTIVE"

    def __init__(self, location_id: int) -> None:
        super().__init__(
            f"Location {location_id} is deactivated; its stock can be read, not changed",
            [{"field": "locationId", "message": "is deactivated"}],
        )


class LocationNotFound(NotFound):
    def __init__(self, location_id: int, field: str = "locationId") -> None:
        super().__init__(
            f"Location {location_id} not found", [{"field": field, "message": "does not exist"}]
        )


class InventoryItemNotFound(NotFound):
    def __init__(self, inventory_item_id: int, field: str = "inventoryItemId") -> None:
        super().__init__(
            f"Inventory item {inventory_item_id} not found",
            [{"field": field, "message": "does not exist"}],
        )


class CommittedStockPresent(Conflict):
    code = "INVENTORY_COMMITTED"

    def __init__(self, inventory_item_id: int, location_id: int) -> None:
        super().__init__(
            f"Inventory item {inventory_item_id} has committed units at location {location_id}; "
            "fulfil or cancel those orders first",
            [{"field": "locationId", "message": "holds committed stock"}],
        )


class InventoryLimitExceeded(Conflict):
    """A level, its on-hand sum or the variant's total would pass the INTEGER columns' range."""

    code = "INVENTORY_LIMIT_EXCEEDED"

    def __init__(self, inventory_item_id: int, location_id: int, field: str) -> None:
        super().__init__(
            f"Inventory item {inventory_item_id} at location {location_id} would exceed "
            f"{MAX_INT} units (at the location, or in its variant's total)",
            [{"field": field, "message": f"would make a quantity exceed {MAX_INT}"}],
        )


class LocationHasStock(Conflict):
    code = "LOCATION_HAS_STOCK"

    def __init__(self, location_id: int) -> None:
        super().__init__(
            f"Location {location_id} has inventory levels or history; deactivate it instead",
            [{"field": "id", "message": "has inventory levels or adjustments"}],
        )


class InventoryChangedConcurrently(Conflict):
    """A deadlock or serialisation failure against another transaction; retrying succeeds."""

    code = "INVENTORY_CHANGED_CONCURRENTLY"

    def __init__(self) -> None:
        super().__init__(
            "Inventory changed concurrently; retry the request",
            [{"field": "inventoryItemId", "message": "was being changed by another request"}],
        )


class CompareQuantityStale(Conflict):
    """`set` with `compareQuantity`: the level no longer holds the quantity the caller read."""

    code = "COMPARE_QUANTITY_STALE"

    def __init__(self, inventory_item_id: int, location_id: int, expected: int) -> None:
        super().__init__(
            f"Inventory item {inventory_item_id} at location {location_id} no longer has "
            f"{expected} available; read the level again and retry",
            [{"field": "compareQuantity", "message": "does not match the available quantity"}],
        )

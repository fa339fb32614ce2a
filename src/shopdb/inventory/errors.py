"""Inventory's typed errors: each carries its status and a stable code."""

from __future__ import annotations

from shopdb.errors import Conflict, NotFound


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

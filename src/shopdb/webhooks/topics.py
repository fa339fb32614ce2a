"""The topics a webhook may subscribe to: the event topics shopdb records.

Each is the `topic` of an event written by a domain service (shopdb.events.record_event) or by
the Core statements that move stock; the delivery's body is that event's body. Shopify's
`resource/event` names, with shopdb's own where Shopify has none (variants/*). A test checks
that each topic listed here is recorded somewhere in the code, so none is a dead promise.
"""

from __future__ import annotations

TOPICS: dict[str, str] = {
    "products/create": "a product was created",
    "products/update": "a product was updated",
    "products/delete": "a product was deleted",
    "products/import": "a CSV import finished",
    "variants/create": "a variant was added to a product",
    "variants/update": "a variant was updated",
    "variants/delete": "a variant was deleted",
    "product_images/create": "an image was added to a product",
    "product_images/update": "an image changed (a download finished, say)",
    "product_images/delete": "an image was deleted",
    "collections/create": "a collection was created",
    "collections/update": "a collection or its products changed",
    "collections/delete": "a collection was deleted",
    "inventory_levels/update": "a stock level moved (adjust, set, move, an order)",
    "inventory_levels/connect": "an item was stocked at a location",
    "inventory_levels/disconnect": "an item was removed from a location",
    "inventory_items/update": "an inventory item changed",
    "locations/create": "a location was created",
    "locations/update": "a location was updated",
    "locations/delete": "a location was deleted",
    "orders/create": "an order was placed",
    "orders/updated": "an order changed",
    "orders/paid": "an order became paid",
    "orders/cancelled": "an order was cancelled",
    "orders/fulfilled": "an order was fulfilled in full",
    "orders/partially_fulfilled": "part of an order was fulfilled",
    "refunds/create": "a refund was made",
    "fulfillments/create": "a fulfillment was created",
    "fulfillments/update": "a fulfillment changed (tracking, cancellation)",
    "returns/create": "a return was opened",
    "checkouts/create": "a checkout was created",
    "checkouts/update": "a checkout was updated",
    "returns/close": "a return was closed",
    "returns/cancel": "a return was cancelled",
    "customers/create": "a customer was created",
    "customers/update": "a customer was updated",
    "customers/delete": "a customer was deleted",
    "customers/enable": "a customer account was activated",
    "customers/disable": "a customer account was disabled",
    "customers_email_marketing_consent/update": "a customer's email consent changed",
    "customers_marketing_consent/update": "a customer's SMS consent changed",
    "discounts/create": "a discount code was created",
    "discounts/update": "a discount code was updated",
    "discounts/delete": "a discount code was deleted",
    "gift_cards/create": "a gift card was issued",
    "gift_cards/update": "a gift card changed",
    "gift_cards/disable": "a gift card was disabled",
    "metafields/create": "a metafield was created",
    "metafields/update": "a metafield was updated",
    "metafields/delete": "a metafield was deleted",
}

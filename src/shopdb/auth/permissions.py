"""The permission catalogue: `resource:action` names, granted per user and carried by tokens."""

from __future__ import annotations

PERMISSIONS: dict[str, str] = {
    "products:read": "View products, variants, images and collections",
    "products:write": "Create and update products, variants, images and collections",
    "products:delete": "Delete products",
    "inventory:read": "View locations, inventory items and levels",
    "inventory:write": "Adjust and set inventory; manage locations",
    "orders:read": "View orders, transactions, refunds and fulfillments",
    "orders:write": "Create, edit, pay, refund, fulfill and cancel orders",
    "customers:read": "View customers and their personal data",
    "customers:write": "Create, update and delete customers, addresses and groups",
    "customers:redact": "Erase a customer's personal data (irreversible)",
    "discounts:read": "View discount codes and gift cards",
    "discounts:write": "Manage discount codes and gift cards",
    "selling_plans:read": "View selling plan groups, their plans and subscription contracts",
    "selling_plans:write": "Manage selling plans and their products; pause or cancel subscriptions",
    "shipping:read": "View shipping zones and rates",
    "shipping:write": "Manage shipping zones and rates",
    "companies:read": "View B2B companies, their payment terms, balances and terms orders",
    "companies:write": "Manage B2B companies and their payment terms",
    "metafields:read": "View metafields and definitions",
    "metafields:write": "Manage metafields and definitions",
    "webhooks:read": "View webhook subscriptions and deliveries",
    "webhooks:write": "Manage webhook subscriptions",
    "events:read": "View the event log",
    "markets:read": "View markets, their regions and currency settings",
    "markets:write": "Manage markets, their regions and currency settings",
    "settings:read": "View shop settings",
    "settings:write": "Change shop settings",
    "users:admin": "Manage staff users, their permissions and API keys",
    "metrics:read": "Scrape Prometheus metrics at /metrics",
    "compliance:read": "View compliance records and data retention policies",
    "compliance:write": "Manage compliance records and data retention policies",
}

ADMIN_ROLE = "admin"
ROLES = ("admin", "staff")


def split(name: str) -> tuple[str, str]:
    resource, _, action = name.partition(":")
    return resource, action

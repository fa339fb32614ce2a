"""The /api/v1 router: every domain's endpoints are mounted here, and only here.

Order matters where paths overlap: fixed paths (`/products/import`, `/products/export.csv`)
are mounted before the `/products/{id}` patterns that would otherwise take them.
"""

from __future__ import annotations

from shopdb.auth.endpoints import api_keys_router
from shopdb.auth.endpoints import router as auth_router
from shopdb.catalog.images.endpoints import router as images_router
from shopdb.catalog.imports.endpoints import router as imports_router
from shopdb.catalog.products.endpoints import router as products_router
from shopdb.catalog.variants.endpoints import product_variants_router
from shopdb.catalog.variants.endpoints import router as variants_router
from shopdb.checkouts.endpoints import router as checkouts_router
from shopdb.collections.endpoints import router as collections_router
from shopdb.companies.endpoints import router as companies_router
from shopdb.compliance.endpoints import compliance_router, retention_router
from shopdb.customers.endpoints import groups_router as customer_groups_router
from shopdb.customers.endpoints import router as customers_router
from shopdb.discounts.endpoints import router as discount_codes_router
from shopdb.events.endpoints import router as events_router
from shopdb.gift_cards.endpoints import router as gift_cards_router
from shopdb.inventory.endpoints import items_router, levels_router, locations_router
from shopdb.jobs.endpoints import router as jobs_router
from shopdb.kit.routing import PrefixedRouter, UnitOfWorkRoute
from shopdb.markets.endpoints import currency_settings_router, markets_router
from shopdb.metafields.endpoints import definitions_router
from shopdb.metafields.endpoints import router as metafields_router
from shopdb.orders.actions.endpoints import router as order_actions_router
from shopdb.orders.endpoints import router as orders_router
from shopdb.orders.fulfillments.endpoints import (
    fulfillment_orders_router,
    fulfillment_services_router,
)
from shopdb.orders.fulfillments.endpoints import router as fulfillments_router
from shopdb.orders.refunds.endpoints import router as refunds_router
from shopdb.orders.returns.endpoints import router as returns_router
from shopdb.orders.transactions.endpoints import router as order_transactions_router
from shopdb.privacy.endpoints import router as privacy_router
from shopdb.selling_plans.endpoints import contracts_router as subscription_contracts_router
from shopdb.selling_plans.endpoints import router as selling_plan_groups_router
from shopdb.shipping.endpoints import shipping_quotes_router, shipping_zones_router
from shopdb.tax.endpoints import tax_rates_router
from shopdb.users.endpoints import permissions_router
from shopdb.users.endpoints import router as users_router
from shopdb.webhooks.endpoints import router as webhooks_router

api_router = PrefixedRouter(prefix="/api/v1", route_class=UnitOfWorkRoute)

for router in (
    auth_router,
    imports_router,
    products_router,
    product_variants_router,
    images_router,
    variants_router,
    collections_router,
    metafields_router,
    definitions_router,
    locations_router,
    items_router,
    levels_router,
    api_keys_router,
    users_router,
    permissions_router,
    customers_router,
    privacy_router,
    customer_groups_router,
    companies_router,
    discount_codes_router,
    gift_cards_router,
    jobs_router,
    events_router,
    orders_router,
    order_transactions_router,
    refunds_router,
    order_actions_router,
    fulfillments_router,
    fulfillment_orders_router,
    fulfillment_services_router,
    returns_router,
    checkouts_router,
    selling_plan_groups_router,
    subscription_contracts_router,
    shipping_zones_router,
    shipping_quotes_router,
    tax_rates_router,
    markets_router,
    currency_settings_router,
    webhooks_router,
    compliance_router,
    retention_router,
):
    api_router.include_router(router)

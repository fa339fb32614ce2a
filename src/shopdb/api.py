"""The /api/v1 router: every domain's endpoints are mounted here."""

from __future__ import annotations

from shopdb.kit.routing import PrefixedRouter, UnitOfWorkRoute

api_router = PrefixedRouter(prefix="/api/v1", route_class=UnitOfWorkRoute)


def _mount_domains() -> None:
    from shopdb.auth.endpoints import api_keys_router
    from shopdb.auth.endpoints import router as auth_router
    from shopdb.catalog.routes import catalog_routers
    from shopdb.customers.endpoints import groups_router as customer_groups_router
    from shopdb.customers.endpoints import router as customers_router
    from shopdb.inventory.endpoints import items_router, levels_router, locations_router
    from shopdb.jobs.endpoints import router as jobs_router
    from shopdb.users.endpoints import permissions_router
    from shopdb.users.endpoints import router as users_router

    api_router.include_router(auth_router)
    for router in catalog_routers():
        api_router.include_router(router)
    api_router.include_router(locations_router)
    api_router.include_router(items_router)
    api_router.include_router(levels_router)
    api_router.include_router(api_keys_router)
    api_router.include_router(users_router)
    api_router.include_router(permissions_router)
    api_router.include_router(customers_router)
    api_router.include_router(customer_groups_router)
    api_router.include_router(jobs_router)


_mount_domains()

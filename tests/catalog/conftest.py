from tests.catalog.fixtures import admin, location, make_product, staff_user, token_for

__all__ = ["admin", "location", "make_product", "staff_user", "token_for"]

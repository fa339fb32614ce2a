"""Who may touch which owner's metafields: metafields:* AND the owner's own domain permission.

A metafield is data of its owner (a customer's metafields are customer data), so holding
metafields:read must not be a way around customers:read. Each owner resource maps to the
resource of its domain's permissions; reading needs `<resource>:read`, writing
`<resource>:write`. The shop's metafields have no domain of their own (Shopify asks no extra
scope for them either), so for `shop` the metafields permission is enough.

Definitions describe a schema, not anyone's data: reading them needs metafields:read only;
creating, changing or deleting one changes what may be written to that owner's metafields,
so it needs the owner's write permission as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from shopdb.auth.dependencies import Subject
from shopdb.metafields.errors import OwnerPermissionRequired

Action = Literal["read", "write"]

# Owner resource (the stored, plural form) -> the resource of the permission that guards it.
OWNER_DOMAINS: dict[str, str | None] = {
    "products": "products",
    "variants": "products",
    "collections": "products",
    "customers": "customers",
    "orders": "orders",
    "locations": "inventory",
    "shop": None,
}


def permission_for(owner_resource: str, action: Action) -> str | None:
    domain = OWNER_DOMAINS[owner_resource]
    return None if domain is None else f"{domain}:{action}"


def allowed(subject: Subject, owner_resource: str, action: Action) -> bool:
    permission = permission_for(owner_resource, action)
    return permission is None or subject.can(permission)


def require(subject: Subject, owner_resource: str, action: Action) -> None:
    """403 naming the missing permission; called before anything looks the owner up."""
    permission = permission_for(owner_resource, action)
    if permission is not None and not subject.can(permission):
        raise OwnerPermissionRequired(permission)


def readable(subject: Subject, owners: Iterable[str] = OWNER_DOMAINS) -> list[str]:
    """The owner resources whose metafields `subject` may read, in a stable order."""
    return [owner for owner in owners if allowed(subject, owner, "read")]

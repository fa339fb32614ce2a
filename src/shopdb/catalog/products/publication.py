"""Publication, separate from status, as Shopify's REST API has it.

`status` says whether a product may be sold (active, draft, archived); `publishedAt` whether
it is published (on the online store). A client sets publication with `published` (a boolean)
or `publishedAt` (a past time, or null); becoming active publishes nothing by itself.
"""

from __future__ import annotations

from datetime import datetime

from shopdb.errors import ValidationFailed
from shopdb.kit.types import utcnow
from shopdb.models import Product

# (published, when): when is None for "now, or keep the date it already has".
Publication = tuple[bool, datetime | None]


def requested_publication(
    published: bool | None, published_at: datetime | None, given: set[str]
) -> Publication | None:
    """What a body asks for, or None when it says nothing about publication."""
    if "published_at" in given:
        if published_at is None:
            if "published" in given and published:
                raise ValidationFailed.on("publishedAt", "is null while published is true")
            return (False, None)
        if "published" in given and published is False:
            raise ValidationFailed.on("published", "is false while publishedAt is set")
        if published_at > utcnow():
            raise ValidationFailed.on(
                "publishedAt", "cannot be in the future (scheduled publishing is not supported)"
            )
        return (True, published_at)
    if "published" in given:
        if published is None:
            raise ValidationFailed.on("published", "cannot be null")
        return (published, None)
    return None


def apply_published(product: Product, publication: Publication) -> None:
    """Unpublish (null), publish at the date given, or publish now keeping an earlier date."""
    published, when = publication
    if not published:
        product.published_at = None
    elif when is not None:
        product.published_at = when
    elif product.published_at is None:
        product.published_at = utcnow()

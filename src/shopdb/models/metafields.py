"""Merchant-defined custom data and its definitions, and rule-based (smart) collections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shopdb.kit.models import Base, IdMixin, SoftDeleteMixin, TimestampMixin
from shopdb.kit.types import BigIntId, JSONType, UTCDateTime


class Metafield(IdMixin, TimestampMixin, Base):
    __tablename__ = "metafields"
    __table_args__ = (
        Index("ix_metafields_owner_id_owner_resource", "owner_id", "owner_resource"),
        Index("ix_metafields_namespace", "namespace"),
        # The list filtered by namespace, by id: one range of this index (migration 0017).
        Index("ix_metafields_namespace_id", "namespace", "id"),
        Index("ix_metafields_key", "key"),
        Index(
            "ux_metafields_owner_id_owner_resource_namespace_key",
            "owner_id",
            "owner_resource",
            "namespace",
            "key",
            unique=True,
        ),
    )

    # Polymorphic owner (products, customers, orders, ...): no foreign key is possible.
    owner_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    owner_resource: Mapped[str] = mapped_column(String(100), nullable=False)
    namespace: Mapped[str] = mapped_column(String(255), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    value: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)


class MetafieldDefinition(IdMixin, TimestampMixin, Base):
    __tablename__ = "metafield_definitions"
    __table_args__ = (
        Index("ix_metafield_definitions_owner_type", "owner_type"),
        Index("ix_metafield_definitions_namespace", "namespace"),
        Index("ix_metafield_definitions_key", "key"),
        Index(
            "ux_metafield_definitions_owner_type_namespace_key",
            "owner_type",
            "namespace",
            "key",
            unique=True,
        ),
    )

    owner_type: Mapped[str] = mapped_column(String(100), nullable=False)
    namespace: Mapped[str] = mapped_column(String(255), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    validations: Mapped[Any] = mapped_column(JSONType, nullable=True)
    access: Mapped[Any] = mapped_column(JSONType, nullable=True)
    capabilities: Mapped[Any] = mapped_column(JSONType, nullable=True)


class SmartCollection(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "smart_collections"
    __table_args__ = (
        UniqueConstraint("handle"),
        Index("ix_smart_collections_handle", "handle"),
        Index("ix_smart_collections_published_at", "published_at"),
        Index("ix_smart_collections_sort_order", "sort_order"),
    )

    title: Mapped[str] = mapped_column(String(255), nullable=False)
    handle: Mapped[str] = mapped_column(String(255), nullable=False)
    rules: Mapped[Any] = mapped_column(JSONType, nullable=True)
    disjunctive_rules: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    sort_order: Mapped[str] = mapped_column(
        String(100), nullable=False, default="manual", server_default="manual"
    )
    template_suffix: Mapped[str | None] = mapped_column(String(255))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    body_html: Mapped[str | None] = mapped_column(Text)


class CollectionProduct(IdMixin, Base):
    """A product's stored position in a collection sorted `manual` (not in the seed).

    Membership itself is computed from the rules; this table only orders. A product without a
    row here sorts after the positioned ones.
    """

    __tablename__ = "collection_products"
    __table_args__ = (
        UniqueConstraint("collection_id", "product_id"),
        Index("ix_collection_products_collection_id_position", "collection_id", "position"),
        Index("ix_collection_products_product_id", "product_id"),
    )

    collection_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("smart_collections.id", ondelete="CASCADE"), nullable=False
    )
    product_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("products.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)

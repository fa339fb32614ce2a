"""Customers, their addresses, tags and groups.

Email and phone hold ciphertext (see shopdb.kit.crypto); the seed's lengths are widened to fit
it, and `email_hash`, a keyed blind index of the normalised email, carries uniqueness and lookup.

Marketing consent is Shopify's: one record per channel (email, SMS), each a state, an opt-in
level and when it last changed; it replaces the seed's `AcceptsMarketing` (migration 0008).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from shopdb.kit.models import (
    Base,
    CreatedAtMixin,
    IdMixin,
    SoftDeleteMixin,
    TimestampMixin,
    VersionMixin,
)
from shopdb.kit.types import BigIntId, JSONType, Money, UTCDateTime
from shopdb.models.catalog import SEARCH_INDEX_STORAGE

CUSTOMER_STATES = ("disabled", "invited", "enabled", "declined")
# Shopify's CustomerEmailMarketingState / CustomerSmsMarketingState (INVALID, which Shopify
# sets itself after bounces, has no use here) and CustomerMarketingOptInLevel.
MARKETING_STATES = ("subscribed", "not_subscribed", "pending", "unsubscribed", "redacted")
OPT_IN_LEVELS = ("single_opt_in", "confirmed_opt_in", "unknown")
# Ciphertext of a 255-character email or a 50-character phone, with its key id and nonce.
ENCRYPTED_EMAIL_LENGTH = 512
ENCRYPTED_PHONE_LENGTH = 255


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# The list's `q`: each word of it is a substring of the first or the last name, in any case. A
# word has no space, so it is in "first last" exactly when it is in one of the two; PostgreSQL
# answers that from one pg_trgm GIN index over this exact expression (literal SQL, as the
# planner matches an expression index only to an identical expression, as for products'
# PRODUCT_SEARCH_SQL). SQLite evaluates it row by row.
CUSTOMER_NAME_SEARCH_SQL = "lower((coalesce(first_name, '') || ' ') || coalesce(last_name, ''))"
LIVE_CUSTOMERS: dict[str, Any] = {
    "postgresql_where": sa.text("deleted_at IS NULL"),
    "sqlite_where": sa.text("deleted_at IS NULL"),
}
# The list's sorts (sortBy), each walked as (key, id) among live customers, alone or within
# one `state` (migration 0017): every page, filtered by state or not, is an index range scan.
CUSTOMER_SORT_KEYS = ("created_at", "updated_at", "first_name", "last_name")


def _keyset_indexes() -> list[Index]:
    plain = [
        Index(f"ix_customers_{key}_id", key, "id", **LIVE_CUSTOMERS)
        for key in (*CUSTOMER_SORT_KEYS, "state")
    ]
    by_state = [
        Index(f"ix_customers_state_{key}_id", "state", key, "id", **LIVE_CUSTOMERS)
        for key in CUSTOMER_SORT_KEYS
    ]
    return plain + by_state


class Customer(IdMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("email"),
        CheckConstraint("state IN ('disabled', 'invited', 'enabled', 'declined')", name="state"),
        CheckConstraint(
            _in("email_marketing_state", MARKETING_STATES), name="email_marketing_state"
        ),
        CheckConstraint(_in("sms_marketing_state", MARKETING_STATES), name="sms_marketing_state"),
        CheckConstraint(
            _in("email_marketing_opt_in_level", OPT_IN_LEVELS), name="email_marketing_opt_in_level"
        ),
        CheckConstraint(
            _in("sms_marketing_opt_in_level", OPT_IN_LEVELS), name="sms_marketing_opt_in_level"
        ),
        Index("ix_customers_email", "email"),
        Index("ix_customers_phone", "phone"),
        Index("ix_customers_state", "state"),
        Index("ix_customers_created_at", "created_at"),
        # One live customer per email; a soft-deleted customer's email can be used again.
        Index(
            "ux_customers_email_hash",
            "email_hash",
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        ),
        *_keyset_indexes(),
        Index(
            "ix_customers_name_search",
            sa.literal_column(CUSTOMER_NAME_SEARCH_SQL).label("name_search"),
            postgresql_using="gin",
            postgresql_ops={"name_search": "gin_trgm_ops"},
            postgresql_with=SEARCH_INDEX_STORAGE,
        ),
    )

    email: Mapped[str] = mapped_column(String(ENCRYPTED_EMAIL_LENGTH), nullable=False)
    email_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(ENCRYPTED_PHONE_LENGTH))
    state: Mapped[str] = mapped_column(
        String(50), nullable=False, default="enabled", server_default="enabled"
    )
    # The seed's flag, kept equal to "email consent is subscribed" (_derive_accepts_marketing).
    accepts_marketing: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    note: Mapped[str | None] = mapped_column(Text)
    email_marketing_state: Mapped[str] = mapped_column(
        String(20), nullable=False, default="not_subscribed", server_default="not_subscribed"
    )
    email_marketing_opt_in_level: Mapped[str | None] = mapped_column(String(20))
    email_marketing_consent_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sms_marketing_state: Mapped[str] = mapped_column(
        String(20), nullable=False, default="not_subscribed", server_default="not_subscribed"
    )
    sms_marketing_opt_in_level: Mapped[str | None] = mapped_column(String(20))
    sms_marketing_consent_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Exempt from every tax; `tax_exemptions` lists Shopify's TaxExemption codes (specific ones).
    tax_exempt: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    tax_exemptions: Mapped[list[str]] = mapped_column(
        JSONType, nullable=False, default=list, server_default=sa.text("'[]'")
    )
    # When the customer's personal data was erased (shopdb.privacy, migration 0031): the row
    # stays, as its orders' customer, with no name, phone, address or findable email.
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    addresses: Mapped[list[CustomerAddress]] = relationship(
        back_populates="customer",
        order_by="CustomerAddress.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )
    tag_rows: Mapped[list[CustomerTag]] = relationship(
        back_populates="customer",
        order_by="CustomerTag.tag",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )
    group_memberships: Mapped[list[CustomerGroupMembership]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", passive_deletes=True, lazy="raise"
    )

    @validates("email_marketing_state")
    def _derive_accepts_marketing(self, _key: str, state: str) -> str:
        """Shopify's legacy `accepts_marketing` is its email consent being `subscribed`."""
        self.accepts_marketing = state == "subscribed"
        return state


class CustomerAddress(IdMixin, TimestampMixin, Base):
    __tablename__ = "customer_addresses"
    __table_args__ = (
        Index("ix_customer_addresses_customer_id", "customer_id"),
        Index("ix_customer_addresses_country", "country"),
        Index("ix_customer_addresses_province", "province"),
        Index("ix_customer_addresses_is_default", "is_default"),
        # At most one default address per customer, enforced by the database.
        Index(
            "ux_customer_addresses_customer_id_default",
            "customer_id",
            unique=True,
            sqlite_where=sa.text("is_default = 1"),
            postgresql_where=sa.text("is_default"),
        ),
    )

    customer_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False
    )
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    company: Mapped[str | None] = mapped_column(String(255))
    address1: Mapped[str] = mapped_column(String(255), nullable=False)
    address2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str] = mapped_column(String(255), nullable=False)
    province: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str] = mapped_column(String(255), nullable=False)
    zip: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(ENCRYPTED_PHONE_LENGTH))
    is_default: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )

    customer: Mapped[Customer] = relationship(back_populates="addresses", lazy="raise")


class CustomerGroup(IdMixin, TimestampMixin, Base):
    __tablename__ = "customer_groups"
    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint(
            "discount_percentage IS NULL"
            " OR (discount_percentage >= 0 AND discount_percentage <= 100)",
            name="discount_percentage",
        ),
        Index("ix_customer_groups_name", "name"),
    )

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    discount_percentage: Mapped[Decimal | None] = mapped_column(
        Money(5, 2), default=Decimal("0"), server_default="0"
    )

    memberships: Mapped[list[CustomerGroupMembership]] = relationship(
        back_populates="group", cascade="all, delete-orphan", passive_deletes=True, lazy="raise"
    )


class CustomerGroupMembership(IdMixin, CreatedAtMixin, Base):
    """The ER diagram's CUSTOMER_GROUP contains CUSTOMER link, which the seed's DDL lacks."""

    __tablename__ = "customer_group_memberships"
    __table_args__ = (
        UniqueConstraint("customer_group_id", "customer_id"),
        Index("ix_customer_group_memberships_customer_id", "customer_id"),
    )

    customer_group_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("customer_groups.id", ondelete="CASCADE"), nullable=False
    )
    customer_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False
    )

    group: Mapped[CustomerGroup] = relationship(back_populates="memberships", lazy="raise")
    customer: Mapped[Customer] = relationship(back_populates="group_memberships", lazy="raise")


TAG_KEY_SQL = "lower(tag)"


class CustomerTag(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "customer_tags"
    __table_args__ = (
        Index("ix_customer_tags_customer_id", "customer_id"),
        Index("ix_customer_tags_tag", "tag"),
        Index("ux_customer_tags_customer_id_tag", "customer_id", "tag", unique=True),
        # Tags are one per customer in any letter case (the service keeps the first spelling),
        # and the `tag` filter compares lower-cased: this index answers it (migration 0008).
        Index(
            "ix_customer_tags_lower_tag_customer_id", sa.literal_column(TAG_KEY_SQL), "customer_id"
        ),
    )

    customer_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False
    )
    tag: Mapped[str] = mapped_column(String(255), nullable=False)

    customer: Mapped[Customer] = relationship(back_populates="tag_rows", lazy="raise")

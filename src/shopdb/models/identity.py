"""Staff users, permissions, their grants, and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopdb.kit.models import Base, CreatedAtMixin, IdMixin, TimestampMixin
from shopdb.kit.types import BigIntId, JSONType, UTCDateTime, utcnow


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("email"),
        Index("ix_users_email", "email"),
        Index("ix_users_role", "role"),
        Index("ix_users_active", "active"),
    )

    email: Mapped[str] = mapped_column(String(255), nullable=False)
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(
        String(100), nullable=False, default="staff", server_default="staff"
    )
    active: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=True, server_default=sa.true()
    )
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # argon2id hash; null for a user who has not set a password yet.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Raised by a password change and a deactivation; access tokens carry the generation they
    # were issued at (claim `gen`), and older ones are refused (shopdb.auth.tokens).
    token_generation: Mapped[int] = mapped_column(
        sa.Integer, nullable=False, default=0, server_default="0"
    )

    grants: Mapped[list[UserPermission]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True, lazy="raise"
    )


class Permission(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "permissions"
    __table_args__ = (
        UniqueConstraint("name"),
        Index("ix_permissions_resource", "resource"),
        Index("ix_permissions_action", "action"),
    )

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    resource: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(100), nullable=False)


class UserPermission(IdMixin, Base):
    __tablename__ = "user_permissions"
    __table_args__ = (
        Index("ix_user_permissions_user_id", "user_id"),
        Index("ix_user_permissions_permission_id", "permission_id"),
        Index("ux_user_permissions_user_id_permission_id", "user_id", "permission_id", unique=True),
    )

    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    permission_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("permissions.id", ondelete="CASCADE"), nullable=False
    )
    granted_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=sa.func.current_timestamp()
    )
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="grants", lazy="raise")
    permission: Mapped[Permission] = relationship(lazy="raise")


class ApiKey(IdMixin, CreatedAtMixin, Base):
    """A machine credential. Only a SHA-256 of the secret is kept; `prefix` finds the row."""

    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("prefix"),
        UniqueConstraint("key_hash"),
        Index("ix_api_keys_user_id", "user_id"),
    )

    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    prefix: Mapped[str] = mapped_column(String(32), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    scopes: Mapped[list[Any]] = mapped_column(JSONType, nullable=False, default=list)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

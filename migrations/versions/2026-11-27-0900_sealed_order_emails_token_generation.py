"""Order emails sealed like customers' (wider column, blind index); users' token generation.

`orders.email` is widened from the seed's 255 characters to hold AES-GCM ciphertext (as
`customers.email`), and `orders.email_hash` (indexed) holds its keyed blind index. Encrypting
needs the keys, which migrations do not read: `shopdb migrate` seals any plaintext email left
after upgrading (shopdb.schema.seal_plaintext_order_emails); until then its hash is null.

`users.token_generation` is raised by a password change and a deactivation; access tokens
carry the generation they were issued at, and older ones are refused.

Downgrading keeps the ciphertext (decrypting needs the keys too); a ciphertext longer than
255 characters (an email of about 170 characters or more) makes the downgrade fail on
PostgreSQL rather than cut it.

Revision ID: 0006_order_email_token_gen
Revises: 0005_live_keyset_indexes
Create Date: 2026-11-27 09:00:00.000000
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_order_email_token_gen"
down_revision: str | None = "0005_live_keyset_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _set_order_email_length(255, 512)
    op.add_column("orders", sa.Column("email_hash", sa.String(64), nullable=True))
    op.create_index("ix_orders_email_hash", "orders", ["email_hash"], unique=False)
    op.add_column(
        "users", sa.Column("token_generation", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("users", "token_generation")
    op.drop_index("ix_orders_email_hash", table_name="orders")
    op.drop_column("orders", "email_hash")
    _set_order_email_length(512, 255)


def _set_order_email_length(before: int, after: int) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.alter_column(
            "orders",
            "email",
            existing_type=sa.String(before),
            type_=sa.String(after),
            existing_nullable=False,
        )
        return
    # SQLite cannot alter a column's type, and batch mode's copy-and-drop would run the
    # implicit DELETE of DROP TABLE with foreign keys on: the orders' line items, transactions
    # and fulfillments would cascade away. A declared VARCHAR length is not enforced and
    # not stored in the rows, so only the schema text changes, by SQLite's documented
    # procedure for changes that leave the stored content alone
    # (https://www.sqlite.org/lang_altertable.html#otheralter).
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'orders'"
    ).scalar_one()
    changed, count = re.subn(
        rf"(\bemail\s+)VARCHAR\({before}\)", rf"\g<1>VARCHAR({after})", sql, count=1
    )
    if count != 1:
        raise RuntimeError(f"orders.email is not VARCHAR({before}) in: {sql}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'orders'",
            (changed,),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = bind.exec_driver_sql("PRAGMA integrity_check").scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"integrity check after changing orders.email: {problems}")

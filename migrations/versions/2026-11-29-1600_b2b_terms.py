"""B2B orders on payment terms: a company's outstanding balance and the orders that hold it.

- companies.outstanding_balance (>= 0): what the company's unpaid orders on payment terms
  owe, moved only by guarded UPDATEs (never above credit_limit when an order is placed);
  companies.version: optimistic concurrency (ETag / If-Match), as other edited tables.
- orders.company_id, payment_terms_id (both ON DELETE SET NULL), payment_terms (the term as
  it was when the order was placed), payment_due_at (processed + net days), credit_held (what
  of the company's credit the order still holds), early_payment_discount and late_fee (what
  paying early took off, or paying late added to, the amount due). Partial indexes on the
  two foreign keys cover the few orders that have them.

On SQLite nothing goes through batch mode: its copy-and-drop of `orders` or `companies`
would run DROP TABLE's implicit DELETE with foreign keys on and cascade the rows that point at
them (line items, payment terms) away (see revision 0020). Each column is a plain
ALTER TABLE ... ADD COLUMN; the foreign keys and the CHECK are written into the table's
schema text by SQLite's documented procedure for changes that leave the stored rows alone
(https://www.sqlite.org/lang_altertable.html#otheralter): every existing row satisfies them
(the new columns are null or zero).

Revision ID: 0027_b2b_terms
Revises: 0026_events_log
Create Date: 2026-11-29 16:00:00.000000
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shopdb.kit.types
from shopdb.kit.sqlite_schema import rewrite_table_sql

revision: str = "0027_b2b_terms"
down_revision: str | None = "0026_events_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
END = r"\)\s*$"
BALANCE_CHECK = ", CONSTRAINT ck_companies_outstanding_balance CHECK (outstanding_balance >= 0)"
FOREIGN_KEYS = {
    "company_id": "companies",
    "payment_terms_id": "b2b_payment_terms",
}


def _fk_sql(column: str) -> str:
    return (
        f", CONSTRAINT fk_orders_{column} FOREIGN KEY({column})"
        f" REFERENCES {FOREIGN_KEYS[column]} (id) ON DELETE SET NULL"
    )


def _rewrite_sqlite_schema(table: str, pattern: str, replacement: str) -> None:
    rewrite_table_sql(op.get_bind(), table, pattern, replacement)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column(
        "companies",
        sa.Column(
            "outstanding_balance",
            sa.Numeric(precision=15, scale=2),
            server_default="0",
            nullable=False,
        ),
    )
    op.add_column(
        "companies", sa.Column("version", sa.Integer(), server_default="1", nullable=False)
    )
    if sqlite:
        _rewrite_sqlite_schema("companies", END, BALANCE_CHECK + ")")
    else:
        op.create_check_constraint(
            op.f("ck_companies_outstanding_balance"), "companies", "outstanding_balance >= 0"
        )

    for column, table in FOREIGN_KEYS.items():
        foreign_key = sa.ForeignKey(
            f"{table}.id", name=op.f(f"fk_orders_{column}"), ondelete="SET NULL"
        )
        extra = [] if sqlite else [foreign_key]
        op.add_column("orders", sa.Column(column, _ID, *extra, nullable=True))
    op.add_column("orders", sa.Column("payment_terms", _JSON, nullable=True))
    op.add_column(
        "orders",
        sa.Column("payment_due_at", shopdb.kit.types.UTCDateTime(timezone=True), nullable=True),
    )
    for name in ("credit_held", "early_payment_discount", "late_fee"):
        op.add_column(
            "orders",
            sa.Column(name, sa.Numeric(precision=10, scale=2), server_default="0", nullable=False),
        )
    if sqlite:
        # After every ADD COLUMN: SQLite appends a new column at the end of the text.
        _rewrite_sqlite_schema(
            "orders", END, "".join(_fk_sql(column) for column in FOREIGN_KEYS) + ")"
        )
    for column in FOREIGN_KEYS:
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_orders_{column}",
            "orders",
            [column],
            postgresql_where=where,
            sqlite_where=where,
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for column in FOREIGN_KEYS:
        op.drop_index(f"ix_orders_{column}", table_name="orders")
    # Plain DROP COLUMNs (SQLite 3.35+): see the docstring for why not batch mode.
    for name in ("late_fee", "early_payment_discount", "credit_held", "payment_due_at"):
        op.drop_column("orders", name)
    op.drop_column("orders", "payment_terms")
    if sqlite:
        # SQLite refuses to drop a column that is part of a foreign key.
        _rewrite_sqlite_schema(
            "orders", re.escape("".join(_fk_sql(column) for column in FOREIGN_KEYS)), ""
        )
    else:
        for column in FOREIGN_KEYS:
            op.drop_constraint(op.f(f"fk_orders_{column}"), "orders", type_="foreignkey")
    for column in reversed(FOREIGN_KEYS):
        op.drop_column("orders", column)
    if sqlite:
        _rewrite_sqlite_schema("companies", re.escape(BALANCE_CHECK), "")
    else:
        op.drop_constraint(op.f("ck_companies_outstanding_balance"), "companies", type_="check")
    op.drop_column("companies", "version")
    op.drop_column("companies", "outstanding_balance")

"""Customers: Shopify's marketing consent, tax exemptions, tags unique in any case (issue 17).

One consent record per channel, as Shopify models it, takes over from `accepts_marketing`: a state
(`subscribed`, `not_subscribed`, `pending`, `unsubscribed`, `redacted`), an opt-in level
(`single_opt_in`, `confirmed_opt_in`, `unknown`) and when the consent last changed. Existing
rows: `accepts_marketing` true becomes email `subscribed` / `single_opt_in`, false becomes
`not_subscribed`; nobody has SMS consent yet. The consent date of a converted row is unknown
and stays null (Shopify shows none for consent it did not see given). The seed's
`accepts_marketing` column stays, kept equal to "email consent is `subscribed`" by the model (as
Shopify's legacy REST field is derived from the consent). Downgrading sets it from the email
state once more; the rest of the consent is lost.

`tax_exempt` and `tax_exemptions` (Shopify's TaxExemption codes, a JSON array) are new.

Customer tags become one per customer in any letter case: where a customer has the same tag in
several spellings the oldest row is kept and the others are deleted (not restored by a
downgrade), and an index on (lower(tag), customer_id) answers the case-insensitive filter.

On SQLite every change is an ALTER TABLE that leaves the table in place (ADD COLUMN with its
CHECK inline; DROP COLUMN on downgrade): a batch rebuild would drop `customers`, and with foreign keys on
that runs an implicit DELETE which cascades to addresses, tags and group memberships and
empties `orders.customer_id`.

Revision ID: 0008_customer_consent
Revises: 0007_job_queue
Create Date: 2026-11-28 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shopdb.kit.types

revision: str = "0008_customer_consent"
down_revision: str | None = "0007_job_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_STATES = ("subscribed", "not_subscribed", "pending", "unsubscribed", "redacted")
_LEVELS = ("single_opt_in", "confirmed_opt_in", "unknown")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _add_column(column: sa.Column[object], *, check: str | None = None) -> None:
    """ADD COLUMN, with its CHECK (named as the models name it) where it has one."""
    name = f"ck_customers_{column.name}"
    if op.get_bind().dialect.name != "sqlite":
        op.add_column("customers", column)
        if check is not None:
            op.create_check_constraint(name, "customers", check)
        return
    # SQLite takes a CHECK only inline in ADD COLUMN (and verifies it against existing rows).
    ddl = str(sa.schema.CreateColumn(column).compile(dialect=op.get_bind().dialect))
    if check is not None:
        ddl += f" CONSTRAINT {name} CHECK ({check})"
    op.execute(f"ALTER TABLE customers ADD COLUMN {ddl}")


def upgrade() -> None:
    for channel in ("email", "sms"):
        _add_column(
            sa.Column(
                f"{channel}_marketing_state",
                sa.String(length=20),
                server_default="not_subscribed",
                nullable=False,
            ),
            check=_in(f"{channel}_marketing_state", _STATES),
        )
        _add_column(
            sa.Column(f"{channel}_marketing_opt_in_level", sa.String(length=20), nullable=True),
            check=_in(f"{channel}_marketing_opt_in_level", _LEVELS),
        )
        _add_column(
            sa.Column(
                f"{channel}_marketing_consent_updated_at",
                shopdb.kit.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
    _add_column(sa.Column("tax_exempt", sa.Boolean(), server_default=sa.false(), nullable=False))
    _add_column(sa.Column("tax_exemptions", _JSON, server_default=sa.text("'[]'"), nullable=False))

    customers = sa.table(
        "customers",
        sa.column("accepts_marketing", sa.Boolean()),
        sa.column("email_marketing_state", sa.String()),
        sa.column("email_marketing_opt_in_level", sa.String()),
    )
    op.execute(
        customers.update()
        .where(customers.c.accepts_marketing == sa.true())
        .values(email_marketing_state="subscribed", email_marketing_opt_in_level="single_opt_in")
    )

    # The oldest spelling of each tag stays; later ones in another case go.
    op.execute(
        "DELETE FROM customer_tags WHERE EXISTS (SELECT 1 FROM customer_tags AS older"
        " WHERE older.customer_id = customer_tags.customer_id"
        " AND lower(older.tag) = lower(customer_tags.tag) AND older.id < customer_tags.id)"
    )
    op.create_index(
        "ix_customer_tags_lower_tag_customer_id",
        "customer_tags",
        [sa.text("lower(tag)"), "customer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_customer_tags_lower_tag_customer_id", table_name="customer_tags")
    customers = sa.table(
        "customers",
        sa.column("accepts_marketing", sa.Boolean()),
        sa.column("email_marketing_state", sa.String()),
    )
    op.execute(
        customers.update()
        .where(customers.c.email_marketing_state == "subscribed")
        .values(accepts_marketing=True)
    )
    # On SQLite a column's own inline CHECK does not stop DROP COLUMN; it goes with it.
    for column in (
        "tax_exemptions",
        "tax_exempt",
        "sms_marketing_consent_updated_at",
        "sms_marketing_opt_in_level",
        "sms_marketing_state",
        "email_marketing_consent_updated_at",
        "email_marketing_opt_in_level",
        "email_marketing_state",
    ):
        op.drop_column("customers", column)

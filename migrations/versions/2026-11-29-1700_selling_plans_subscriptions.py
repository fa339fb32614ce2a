"""(skeleton, lead worktree only)

Revision ID: 0028_selling_plans_subscriptions
Revises: 0027_b2b_terms
"""

revision = "0028_selling_plans_subscriptions"
down_revision = "0027_b2b_terms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

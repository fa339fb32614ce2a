"""(skeleton, lead worktree only)

Revision ID: 0029_markets_pricing
Revises: 0028_selling_plans_subscriptions
"""

revision = "0029_markets_pricing"
down_revision = "0028_selling_plans_subscriptions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

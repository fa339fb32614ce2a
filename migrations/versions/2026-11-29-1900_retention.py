"""(skeleton, lead worktree only)

Revision ID: 0030_retention
Revises: 0029_markets_pricing
"""

revision = "0030_retention"
down_revision = "0029_markets_pricing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""(skeleton, lead worktree only)

Revision ID: 0031_privacy
Revises: 0030_retention
"""

revision = "0031_privacy"
down_revision = "0030_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

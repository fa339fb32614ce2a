"""(skeleton, lead worktree only)

Revision ID: 0027_b2b_terms
Revises: 0026_events_log
"""

revision = "0027_b2b_terms"
down_revision = "0026_events_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

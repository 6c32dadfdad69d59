"""scaleC: a narrow partial index of the auto answers that make a call uncertain (sampling's strata)

Revision ID: 0033_scaleC_flags
Revises: 0032_scalepages_pages
"""

import sqlalchemy as sa
from alembic import op

revision = '0033_scaleC_flags'
down_revision = '0032_scalepages_pages'
branch_labels = None
depends_on = None

# a third of the answers; a sampling run counts a month's insufficient and critical "no" answers per
# evaluation from this index alone (EXPLAIN: index-only scans instead of a heap read per answer)
FLAGGED = "auto_answer IN ('insufficient', 'no')"


def upgrade() -> None:
    op.create_index('ix_evaluation_items_auto_flags', 'evaluation_items', ['evaluation_id', 'auto_answer', 'critical'],
                    unique=False, postgresql_where=sa.text(FLAGGED), sqlite_where=sa.text(FLAGGED))


def downgrade() -> None:
    op.drop_index('ix_evaluation_items_auto_flags', table_name='evaluation_items')

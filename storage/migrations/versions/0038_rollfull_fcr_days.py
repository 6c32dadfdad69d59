"""rollfull: the fcr_days setting the hour rollup's repeat-call rows were computed with

Revision ID: 0038_rollfull_fcr_days
Revises: 0037_kpiday_day_rollups
"""

import sqlalchemy as sa
from alembic import op

revision = "0038_rollfull_fcr_days"
down_revision = "0037_kpiday_day_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: not known (rows from before this column), so the next refresh recomputes hour_repeats and
    # the pages read repeat calls from the call rows until then
    with op.batch_alter_table('rollup_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fcr_days', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rollup_state', schema=None) as batch_op:
        batch_op.drop_column('fcr_days')

"""users: a time zone of their own (none: the review app's CALLQC_TIMEZONE)

Revision ID: 0020_loopsec_user_timezone
Revises: 0019_scaled_rollups
"""

import sqlalchemy as sa
from alembic import op

revision = '0020_loopsec_user_timezone'
down_revision = '0019_scaled_rollups'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('timezone')

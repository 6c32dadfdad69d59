"""users: a supervisor or inspector may see several teams (``also_teams`` besides ``team``)

Revision ID: 0022_loopsec_user_teams
Revises: 0021_loopsec_auto_disputes
"""

import sqlalchemy as sa
from alembic import op

revision = '0022_loopsec_user_teams'
down_revision = '0021_loopsec_auto_disputes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('also_teams', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('also_teams')

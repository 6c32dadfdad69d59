"""loop: the trust figures an automatic evaluation was stored with

Revision ID: 0008_loop_trust
Revises: 0007_app_sessions
"""

import sqlalchemy as sa
from alembic import op

revision = '0008_loop_trust'
down_revision = '0007_app_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('evaluations') as batch:
        batch.add_column(sa.Column('trust', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('evaluations') as batch:
        batch.drop_column('trust')

"""loop: the trust figures an automatic evaluation was stored with

Revision ID: 0006_loop_trust
Revises: 0005_review
"""

import sqlalchemy as sa
from alembic import op

revision = '0006_loop_trust'
down_revision = '0005_review'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('evaluations') as batch:
        batch.add_column(sa.Column('trust', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('evaluations') as batch:
        batch.drop_column('trust')

"""loop: a dispute may name one rubric item

Revision ID: 0013_loop_item_disputes
Revises: 0012_loop_notifications
"""

import sqlalchemy as sa
from alembic import op


revision = '0013_loop_item_disputes'
down_revision = '0012_loop_notifications'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('item_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.drop_column('item_id')


"""loop: rubric selection rules (a rubric per queue, direction or campaign)

Revision ID: 0014_loop_rubric_rules
Revises: 0013_loop_item_disputes
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0014_loop_rubric_rules'
down_revision = '0013_loop_item_disputes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rubric_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=True),
    sa.Column('direction', sa.String(length=16), nullable=True),
    sa.Column('campaign', sa.String(length=64), nullable=True),
    sa.Column('rubric_id', sa.String(length=64), nullable=False),
    sa.Column('rubric_version', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rubric_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rubric_rules_tenant'), ['tenant'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rubric_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rubric_rules_tenant'))

    op.drop_table('rubric_rules')


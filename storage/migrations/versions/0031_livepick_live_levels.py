"""live levels: each speaker's loudness per 100 ms frame of a call in progress (live flags anywhere)

Revision ID: 0031_livepick_live_levels
Revises: 0030_partition_months
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0031_livepick_live_levels'
down_revision = '0030_partition_months'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('live_levels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('start_frame', sa.Integer(), nullable=False),
    sa.Column('frames', sa.Integer(), nullable=False),
    sa.Column('levels', sa.JSON(), nullable=False),
    sa.Column('written_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('call_id', 'start_frame')
    )
    op.create_index(op.f('ix_live_levels_call_id'), 'live_levels', ['call_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_live_levels_call_id'), table_name='live_levels')
    op.drop_table('live_levels')

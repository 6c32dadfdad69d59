"""channel check: voice prints per call channel, agents' confirmed prints, and the map's flip counter

Revision ID: 0029_pbxcc_channel_voices
Revises: 0028_livetx_live_watches
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0029_pbxcc_channel_voices'
down_revision = '0028_livetx_live_watches'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel_flips', sa.Integer(), nullable=False, server_default='0'))
    op.create_table(
        'channel_voices',
        sa.Column('call_id', sa.String(length=128), nullable=False),
        sa.Column('channel', sa.Integer(), nullable=False),
        sa.Column('vector', sa.JSON(), nullable=False),
        sa.Column('speech_s', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['call_id'], ['calls.call_id']),
        sa.PrimaryKeyConstraint('call_id', 'channel'),
    )
    op.create_table(
        'agent_voices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('agent_id', sa.String(length=64), nullable=False),
        sa.Column('call_id', sa.String(length=128), nullable=False),
        sa.Column('channel', sa.Integer(), nullable=False),
        sa.Column('vector', sa.JSON(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['call_id'], ['calls.call_id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('call_id'),
    )
    op.create_index('ix_agent_voices_agent', 'agent_voices', ['tenant', 'agent_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_agent_voices_agent', table_name='agent_voices')
    op.drop_table('agent_voices')
    op.drop_table('channel_voices')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('channel_flips')

"""synchronous sampling: live plans and live picks

Revision ID: 0017_sync_live_sampling
Revises: 0016_pbx_cdr
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0017_sync_live_sampling'
down_revision = '0016_pbx_cdr'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('live_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('share', sa.Float(), nullable=False),
    sa.Column('per_agent_day', sa.Integer(), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('inspector_daily_cap', sa.Integer(), nullable=False),
    sa.Column('repeat_agent', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('live_picks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('inspector', sa.String(length=64), nullable=False),
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=True),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.JSON(), nullable=False),
    sa.Column('picked_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['live_plans.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('call_id')
    )
    op.create_index(op.f('ix_live_picks_plan_id'), 'live_picks', ['plan_id'], unique=False)
    op.create_index(op.f('ix_live_picks_inspector'), 'live_picks', ['inspector'], unique=False)
    op.create_index(op.f('ix_live_picks_day'), 'live_picks', ['day'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_live_picks_day'), table_name='live_picks')
    op.drop_index(op.f('ix_live_picks_inspector'), table_name='live_picks')
    op.drop_index(op.f('ix_live_picks_plan_id'), table_name='live_picks')
    op.drop_table('live_picks')
    op.drop_table('live_plans')

"""scale: the per-day rollup (day_stats, rollup_state) and indexes chosen with EXPLAIN at 100 k calls

Revision ID: 0019_scaled_rollups
Revises: 0018_scaleo_disposal
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0019_scaled_rollups'
down_revision = '0018_scaleo_disposal'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('day_stats',
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('team', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('talk_s', sa.Float(), nullable=False),
    sa.Column('autos', sa.Integer(), nullable=False),
    sa.Column('auto_scored', sa.Integer(), nullable=False),
    sa.Column('auto_score_sum', sa.Float(), nullable=False),
    sa.Column('auto_critical_fails', sa.Integer(), nullable=False),
    sa.Column('reviews', sa.Integer(), nullable=False),
    sa.Column('review_scored', sa.Integer(), nullable=False),
    sa.Column('review_score_sum', sa.Float(), nullable=False),
    sa.Column('review_pass_known', sa.Integer(), nullable=False),
    sa.Column('review_passed', sa.Integer(), nullable=False),
    sa.Column('retraining', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'tenant', 'team', 'agent_id', 'queue')
    )
    op.create_table('rollup_state',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('watermark', UTCDateTime(), nullable=True),
    sa.Column('refreshed_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_index('ix_calls_tenant_team_started', 'calls', ['tenant', 'team', 'started_at'], unique=False)
    op.create_index('ix_calls_agent_started', 'calls', ['agent_id', 'started_at'], unique=False)
    op.create_index('ix_calls_updated_at', 'calls', ['updated_at'], unique=False)
    op.create_index('ix_evaluations_updated_at', 'evaluations', ['updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_evaluations_updated_at', table_name='evaluations')
    op.drop_index('ix_calls_updated_at', table_name='calls')
    op.drop_index('ix_calls_agent_started', table_name='calls')
    op.drop_index('ix_calls_tenant_team_started', table_name='calls')
    op.drop_table('rollup_state')
    op.drop_table('day_stats')

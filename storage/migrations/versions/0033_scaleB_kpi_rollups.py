"""scaleB: hour_repeats (repeat-call FCR per hour and scope), hour_items (the report's item answers per hour),
the calls' number indexes; both tables filled at once

Revision ID: 0033_scaleB_kpi_rollups
Revises: 0032_scalepages_pages
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel import Session

revision = '0033_scaleB_kpi_rollups'
down_revision = '0032_scalepages_pages'
branch_labels = None
depends_on = None

KEY = ("hour", "tenant", "team", "agent_id", "queue")
COUNTS = ("fcr_known", "repeat_any", "repeat_tenant", "repeat_team")


def upgrade() -> None:
    op.create_table(
        'hour_repeats',
        sa.Column('hour', sa.String(length=13), nullable=False),
        *[sa.Column(k, sa.String(length=64), nullable=False) for k in KEY[1:]],
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS],
        sa.PrimaryKeyConstraint(*KEY),
    )
    op.create_index('ix_hour_repeats_tenant_team_hour', 'hour_repeats', ['tenant', 'team', 'hour'], unique=False)
    op.create_table(
        'hour_items',
        sa.Column('hour', sa.String(length=13), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('team', sa.String(length=64), nullable=False),
        sa.Column('item_id', sa.String(length=64), nullable=False),
        sa.Column('answered', sa.Integer(), nullable=False),
        sa.Column('yes', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('hour', 'tenant', 'team', 'item_id'),
    )
    op.create_index('ix_hour_items_tenant_hour', 'hour_items', ['tenant', 'hour'], unique=False)
    # a number's calls: the repeat look-ups of the live tail and of a window's part hours
    op.create_index('ix_calls_caller_started', 'calls', ['caller', 'started_at'], unique=False)
    op.create_index('ix_calls_callee_started', 'calls', ['callee', 'started_at'], unique=False)
    # filled now, for every call (the rollup's watermark already covers them): a month at a time from the
    # raw rows, minutes at a million calls, where recomputing hour_stats too would take an hour
    from storage import item_stats, repeats
    session = Session(bind=op.get_bind())
    repeats.rebuild(session)
    item_stats.rebuild(session)


def downgrade() -> None:
    op.drop_index('ix_calls_callee_started', table_name='calls')
    op.drop_index('ix_calls_caller_started', table_name='calls')
    op.drop_index('ix_hour_repeats_tenant_team_hour', table_name='hour_repeats')
    op.drop_table('hour_repeats')
    op.drop_index('ix_hour_items_tenant_hour', table_name='hour_items')
    op.drop_table('hour_items')

"""scaleA: the agreement rollup (agreement_days, agreement_call_days) and the review-day rollup (review_days)

Revision ID: 0034_scaleA_agreement_days
Revises: 0033_scaleB_kpi_rollups
"""

import sqlalchemy as sa
from alembic import op

revision = '0034_scaleA_agreement_days'
down_revision = '0033_scaleB_kpi_rollups'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'agreement_days',
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('item_id', sa.String(length=64), nullable=False),
        sa.Column('auto_answer', sa.String(length=16), nullable=False),
        sa.Column('final_answer', sa.String(length=16), nullable=False),
        sa.Column('counted', sa.Integer(), nullable=False),
        sa.Column('dropped', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'item_id', 'auto_answer', 'final_answer'),
    )
    op.create_table(
        'agreement_call_days',
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('call_id', sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint('day', 'call_id'),
    )
    op.create_index('ix_agreement_call_days_call_id', 'agreement_call_days', ['call_id'], unique=False)
    op.create_table(
        'review_days',
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('team', sa.String(length=64), nullable=False),
        sa.Column('agent_id', sa.String(length=64), nullable=False),
        sa.Column('scored', sa.Integer(), nullable=False),
        sa.Column('score_sum', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'tenant', 'team', 'agent_id'),
    )
    op.create_index('ix_review_days_tenant_agent', 'review_days', ['tenant', 'agent_id'], unique=False)
    op.create_index('ix_review_days_tenant_team', 'review_days', ['tenant', 'team'], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM rollup_state WHERE name IN ('agreement_days', 'review_days')")
    op.drop_index('ix_review_days_tenant_team', table_name='review_days')
    op.drop_index('ix_review_days_tenant_agent', table_name='review_days')
    op.drop_table('review_days')
    op.drop_index('ix_agreement_call_days_call_id', table_name='agreement_call_days')
    op.drop_table('agreement_call_days')
    op.drop_table('agreement_days')

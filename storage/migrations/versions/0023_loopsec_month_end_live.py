"""scheduler: month-end report claims; scheduled live plans (schedule, inspectors) and their claims

Revision ID: 0023_loopsec_month_end_live
Revises: 0022_loopsec_user_teams
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0023_loopsec_month_end_live'
down_revision = '0022_loopsec_user_teams'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('claimed_by', sa.String(length=128), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('claimed_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('month', 'tenant', name='uq_report_claim_month')
    )
    op.create_table('live_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('fire_at', UTCDateTime(), nullable=False),
    sa.Column('claimed_by', sa.String(length=128), nullable=False),
    sa.Column('picks', sa.Integer(), nullable=False),
    sa.Column('claimed_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['live_plans.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'fire_at', name='uq_live_claim_fire')
    )
    with op.batch_alter_table('live_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_claims_plan_id'), ['plan_id'], unique=False)
    with op.batch_alter_table('live_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schedule', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('inspectors', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('live_plans', schema=None) as batch_op:
        batch_op.drop_column('inspectors')
        batch_op.drop_column('schedule')
    with op.batch_alter_table('live_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_claims_plan_id'))
    op.drop_table('live_claims')
    op.drop_table('report_claims')

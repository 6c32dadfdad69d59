"""loop: sampling plans belong to a tenant and team and may run on a schedule; one claim per plan and period

Revision ID: 0011_loop_schedules
Revises: 0010_loop_tenants
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0011_loop_schedules'
down_revision = '0010_loop_tenants'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sampling_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('period_start', UTCDateTime(), nullable=False),
    sa.Column('period_end', UTCDateTime(), nullable=False),
    sa.Column('claimed_by', sa.String(length=128), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['sampling_plans.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'period_start', name='uq_sampling_claim_period')
    )
    with op.batch_alter_table('sampling_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sampling_claims_plan_id'), ['plan_id'], unique=False)

    with op.batch_alter_table('sampling_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tenant', sa.String(length=64), nullable=False, server_default='default'))
        batch_op.add_column(sa.Column('team', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('schedule', sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f('ix_sampling_plans_tenant'), ['tenant'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sampling_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sampling_plans_tenant'))
        batch_op.drop_column('schedule')
        batch_op.drop_column('team')
        batch_op.drop_column('tenant')

    with op.batch_alter_table('sampling_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sampling_claims_plan_id'))

    op.drop_table('sampling_claims')


"""samplerun: live plans belong to a tenant and (optionally) a team, as sampling plans do

Revision ID: 0039_samplerun_live_plan_scope
Revises: 0038_rollfull_fcr_days
"""

import sqlalchemy as sa
from alembic import op

revision = "0039_samplerun_live_plan_scope"
down_revision = "0038_rollfull_fcr_days"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('live_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tenant', sa.String(length=64), nullable=False, server_default='default'))
        batch_op.add_column(sa.Column('team', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_live_plans_tenant'), ['tenant'], unique=False)
    # an existing plan takes its creator's tenant and team, as a new one does; a plan whose creator is
    # gone stays in the default tenant with no team
    op.execute("UPDATE live_plans SET "
               "tenant = COALESCE((SELECT u.tenant FROM users u WHERE u.name = live_plans.created_by), 'default'), "
               "team = (SELECT u.team FROM users u WHERE u.name = live_plans.created_by)")


def downgrade() -> None:
    with op.batch_alter_table('live_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_plans_tenant'))
        batch_op.drop_column('team')
        batch_op.drop_column('tenant')

"""loop: users belong to a tenant; an agent ID is unique within its tenant

Revision ID: 0010_loop_tenants
Revises: 0009_loop_routing
"""

import sqlalchemy as sa
from alembic import op


revision = '0010_loop_tenants'
down_revision = '0009_loop_routing'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tenant', sa.String(length=64), nullable=False, server_default='default'))
        batch_op.create_index(batch_op.f('ix_users_tenant'), ['tenant'], unique=False)
        batch_op.create_unique_constraint('uq_users_tenant_agent', ['tenant', 'agent_id'])


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('uq_users_tenant_agent', type_='unique')
        batch_op.drop_index(batch_op.f('ix_users_tenant'))
        batch_op.drop_column('tenant')


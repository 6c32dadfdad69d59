"""loop: routing rules and the routed-call queue

Revision ID: 0009_loop_routing
Revises: 0008_loop_trust
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0009_loop_routing'
down_revision = '0008_loop_trust'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('routing_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('team', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('due_hours', sa.Float(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('routing_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_rules_tenant'), ['tenant'], unique=False)

    op.create_table('routed_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('team', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.String(length=300), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('due_at', UTCDateTime(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('done_by', sa.String(length=64), nullable=True),
    sa.Column('review_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.call_id'], ),
    sa.ForeignKeyConstraint(['rule_id'], ['routing_rules.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('call_id', 'rule_id', name='uq_routed_call_rule')
    )
    with op.batch_alter_table('routed_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routed_calls_call_id'), ['call_id'], unique=False)
        batch_op.create_index('ix_routed_calls_queue', ['tenant', 'team', 'state', 'priority'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('routed_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_routed_calls_queue')
        batch_op.drop_index(batch_op.f('ix_routed_calls_call_id'))

    op.drop_table('routed_calls')
    with op.batch_alter_table('routing_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_rules_tenant'))

    op.drop_table('routing_rules')


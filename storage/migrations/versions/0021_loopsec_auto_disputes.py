"""disputes of auto-submitted evaluations: a dispute names an evaluation when there is no review yet;
a routed call may come from a dispute instead of a rule

Revision ID: 0021_loopsec_auto_disputes
Revises: 0020_loopsec_user_timezone
"""

import sqlalchemy as sa
from alembic import op

revision = '0021_loopsec_auto_disputes'
down_revision = '0020_loopsec_user_timezone'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.alter_column('review_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('evaluation_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_disputes_evaluation_id'), ['evaluation_id'], unique=False)
    with op.batch_alter_table('routed_calls', schema=None) as batch_op:
        batch_op.alter_column('rule_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM routed_calls WHERE rule_id IS NULL")
    with op.batch_alter_table('routed_calls', schema=None) as batch_op:
        batch_op.alter_column('rule_id', existing_type=sa.Integer(), nullable=False)
    op.execute("DELETE FROM dispute_events WHERE dispute_id IN (SELECT id FROM disputes WHERE review_id IS NULL)")
    op.execute("DELETE FROM disputes WHERE review_id IS NULL")
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disputes_evaluation_id'))
        batch_op.drop_column('evaluation_id')
        batch_op.alter_column('review_id', existing_type=sa.Integer(), nullable=False)

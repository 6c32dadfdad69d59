"""evaluations: rubric versions, evaluations with per-item auto/human/final answers, call metrics

Revision ID: 0003_evaluations
Revises: 0002_transcripts
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0003_evaluations'
down_revision = '0002_transcripts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rubrics',
    sa.Column('rubric_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=256), nullable=False),
    sa.Column('yaml_text', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=512), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('rubric_id', 'version')
    )
    op.create_table('call_metrics',
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('agent_talk_s', sa.Float(), nullable=True),
    sa.Column('customer_talk_s', sa.Float(), nullable=True),
    sa.Column('non_talk_s', sa.Float(), nullable=False),
    sa.Column('longest_silence_s', sa.Float(), nullable=False),
    sa.Column('overtalk_count', sa.Integer(), nullable=False),
    sa.Column('overtalk_s', sa.Float(), nullable=False),
    sa.Column('agent_rate', sa.Float(), nullable=True),
    sa.Column('customer_rate', sa.Float(), nullable=True),
    sa.Column('talk_ratio', sa.Float(), nullable=True),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.call_id'], ),
    sa.PrimaryKeyConstraint('call_id')
    )
    op.create_table('evaluations',
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('rubric_id', sa.String(length=64), nullable=False),
    sa.Column('rubric_version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('evaluator', sa.String(length=64), nullable=False),
    sa.Column('total', sa.Float(), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=True),
    sa.Column('critical_score', sa.Float(), nullable=True),
    sa.Column('pass_mark', sa.Float(), nullable=False),
    sa.Column('needs_review', sa.Boolean(), nullable=False),
    sa.Column('auto_submitted', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('superseded_by', sa.Integer(), nullable=True),
    sa.Column('sections', sa.JSON(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.call_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluations_active'), ['active'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluations_call_id'), ['call_id'], unique=False)
        batch_op.create_index('ix_evaluations_call_kind_active', ['call_id', 'kind', 'active'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluations_evaluator'), ['evaluator'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluations_kind'), ['kind'], unique=False)

    op.create_table('evaluation_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('section_id', sa.String(length=64), nullable=False),
    sa.Column('check_kind', sa.String(length=32), nullable=False),
    sa.Column('critical', sa.String(length=16), nullable=False),
    sa.Column('points', sa.Float(), nullable=False),
    sa.Column('earned', sa.Float(), nullable=False),
    sa.Column('possible', sa.Float(), nullable=False),
    sa.Column('auto_answer', sa.String(length=16), nullable=True),
    sa.Column('human_answer', sa.String(length=16), nullable=True),
    sa.Column('final_answer', sa.String(length=16), nullable=True),
    sa.Column('final_source', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('model_version', sa.String(length=64), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluations.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('evaluation_id', 'item_id', name='uq_evaluation_items_item')
    )
    with op.batch_alter_table('evaluation_items', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_evaluation_items_evaluation_id'), ['evaluation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluation_items_item_id'), ['item_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('evaluation_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_items_item_id'))
        batch_op.drop_index(batch_op.f('ix_evaluation_items_evaluation_id'))

    op.drop_table('evaluation_items')
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluations_kind'))
        batch_op.drop_index(batch_op.f('ix_evaluations_evaluator'))
        batch_op.drop_index('ix_evaluations_call_kind_active')
        batch_op.drop_index(batch_op.f('ix_evaluations_call_id'))
        batch_op.drop_index(batch_op.f('ix_evaluations_active'))

    op.drop_table('evaluations')
    op.drop_table('call_metrics')
    op.drop_table('rubrics')

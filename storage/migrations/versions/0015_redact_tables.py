"""redaction: hits per call, original text kept apart (pii), redacted audio copies, which audio an
archive entry holds

Revision ID: 0015_redact_tables
Revises: 0014_loop_rubric_rules
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0015_redact_tables'
down_revision = '0014_loop_rubric_rules'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('call_redactions',
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('audio_key', sa.String(length=512), nullable=True),
    sa.Column('audio_sha256', sa.String(length=64), nullable=True),
    sa.Column('audio_size', sa.BigInteger(), nullable=True),
    sa.Column('original_kept', sa.Boolean(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.call_id'], ),
    sa.PrimaryKeyConstraint('call_id')
    )
    with op.batch_alter_table('call_redactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_redactions_at'), ['at'], unique=False)

    op.create_table('redactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('speaker', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.Integer(), nullable=True),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('digits', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.call_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('redactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_redactions_call_id'), ['call_id'], unique=False)

    with op.batch_alter_table('archive_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audio', sa.String(length=16), nullable=False, server_default='original'))

    op.create_table('transcript_originals',
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('idx', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('words', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.call_id'], ),
    sa.PrimaryKeyConstraint('call_id', 'idx')
    )


def downgrade() -> None:
    op.drop_table('transcript_originals')
    with op.batch_alter_table('archive_entries', schema=None) as batch_op:
        batch_op.drop_column('audio')
    with op.batch_alter_table('redactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_redactions_call_id'))
    op.drop_table('redactions')
    with op.batch_alter_table('call_redactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_redactions_at'))
    op.drop_table('call_redactions')

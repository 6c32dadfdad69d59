"""transcripts: one transcript per call and its segments (searchable by text)

Revision ID: 0002_transcripts
Revises: 0001_backbone
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0002_transcripts'
down_revision = '0001_backbone'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('transcripts',
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('language_probability', sa.Float(), nullable=False),
    sa.Column('model_name', sa.String(length=256), nullable=False),
    sa.Column('model_version', sa.String(length=256), nullable=False),
    sa.Column('model_source', sa.String(length=16), nullable=False),
    sa.Column('compute', sa.JSON(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('mono', sa.Boolean(), nullable=False),
    sa.Column('word_count', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.call_id'], ),
    sa.PrimaryKeyConstraint('call_id')
    )
    op.create_table('segments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('idx', sa.Integer(), nullable=False),
    sa.Column('speaker', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.Integer(), nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('words', sa.JSON(), nullable=False),
    sa.Column('avg_logprob', sa.Float(), nullable=False),
    sa.Column('no_speech_prob', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.call_id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('call_id', 'idx', name='uq_segments_call_idx')
    )
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_segments_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_segments_speaker'), ['speaker'], unique=False)
    # Substring search (ILIKE '%…%', Chinese included) is served by a trigram index on PostgreSQL;
    # pg_trgm is a trusted extension (PostgreSQL 13+), so the database owner may create it.
    # SQLite gets a plain index of the same name (matching the model's metadata).
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.create_index('ix_segments_text_trgm', 'segments', ['text'], unique=False,
                    postgresql_using='gin', postgresql_ops={'text': 'gin_trgm_ops'})


def downgrade() -> None:
    op.drop_index('ix_segments_text_trgm', table_name='segments')
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_segments_speaker'))
        batch_op.drop_index(batch_op.f('ix_segments_call_id'))

    op.drop_table('segments')
    op.drop_table('transcripts')

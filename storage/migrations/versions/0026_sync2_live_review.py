"""synchronous review: live transcript segments, sync drafts, reviews.mode

Revision ID: 0026_sync2_live_review
Revises: 0025_perfa_nonspeech
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0026_sync2_live_review'
down_revision = '0025_perfa_nonspeech'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('live_segments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('speaker', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.Integer(), nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('text', sa.String(), nullable=False),
    sa.Column('heard_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_live_segments_call_id'), 'live_segments', ['call_id'], unique=False)
    op.create_table('sync_drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('inspector', sa.String(length=64), nullable=False),
    sa.Column('marks', sa.JSON(), nullable=False),
    sa.Column('note', sa.String(), nullable=False),
    sa.Column('review_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.call_id'], ),
    sa.ForeignKeyConstraint(['review_id'], ['reviews.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('call_id', 'inspector')
    )
    op.create_index(op.f('ix_sync_drafts_call_id'), 'sync_drafts', ['call_id'], unique=False)
    op.create_index(op.f('ix_sync_drafts_inspector'), 'sync_drafts', ['inspector'], unique=False)
    with op.batch_alter_table('reviews') as batch:
        batch.add_column(sa.Column('mode', sa.String(length=8), server_default='async', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('reviews') as batch:
        batch.drop_column('mode')
    op.drop_index(op.f('ix_sync_drafts_inspector'), table_name='sync_drafts')
    op.drop_index(op.f('ix_sync_drafts_call_id'), table_name='sync_drafts')
    op.drop_table('sync_drafts')
    op.drop_index(op.f('ix_live_segments_call_id'), table_name='live_segments')
    op.drop_table('live_segments')

"""known prompts: recorded prompt audio's fingerprint and the transcript to reuse

Revision ID: 0024_perfb_prompts
Revises: 0023_loopsec_month_end_live
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0024_perfb_prompts'
down_revision = '0023_loopsec_month_end_live'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('prompts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('audio_key', sa.String(length=256), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('fingerprint', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_index(op.f('ix_prompts_sha256'), 'prompts', ['sha256'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_prompts_sha256'), table_name='prompts')
    op.drop_table('prompts')

"""PBX fidelity: call records (CDR) read from the PBX, matched to recordings

Revision ID: 0016_pbx_cdr
Revises: 0015_redact_tables
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0016_pbx_cdr'
down_revision = '0015_redact_tables'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cdr_records',
    sa.Column('record_key', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('uniqueid', sa.String(length=128), nullable=False),
    sa.Column('linkedid', sa.String(length=128), nullable=True),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('answered_at', UTCDateTime(), nullable=True),
    sa.Column('ended_at', UTCDateTime(), nullable=True),
    sa.Column('caller', sa.String(length=64), nullable=True),
    sa.Column('callee', sa.String(length=64), nullable=True),
    sa.Column('queue', sa.String(length=64), nullable=True),
    sa.Column('extension', sa.String(length=64), nullable=True),
    sa.Column('agent_id', sa.String(length=64), nullable=True),
    sa.Column('disposition', sa.String(length=32), nullable=False),
    sa.Column('ring_s', sa.Float(), nullable=True),
    sa.Column('talk_s', sa.Float(), nullable=True),
    sa.Column('wrapup_s', sa.Float(), nullable=True),
    sa.Column('call_id', sa.String(length=128), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('record_key')
    )
    op.create_index(op.f('ix_cdr_records_uniqueid'), 'cdr_records', ['uniqueid'], unique=False)
    op.create_index(op.f('ix_cdr_records_started_at'), 'cdr_records', ['started_at'], unique=False)
    op.create_index(op.f('ix_cdr_records_call_id'), 'cdr_records', ['call_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_cdr_records_call_id'), table_name='cdr_records')
    op.drop_index(op.f('ix_cdr_records_started_at'), table_name='cdr_records')
    op.drop_index(op.f('ix_cdr_records_uniqueid'), table_name='cdr_records')
    op.drop_table('cdr_records')

"""live capture: PCI pauses of live calls

Revision ID: 0006_live_pauses
Revises: 0005_review
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0006_live_pauses'
down_revision = '0005_review'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('call_pauses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('ended_at', UTCDateTime(), nullable=True),
    sa.Column('paused_by', sa.String(length=128), nullable=False),
    sa.Column('resumed_by', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.call_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_call_pauses_call_id'), 'call_pauses', ['call_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_call_pauses_call_id'), table_name='call_pauses')
    op.drop_table('call_pauses')

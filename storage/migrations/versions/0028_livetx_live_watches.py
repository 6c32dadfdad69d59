"""live transcription worker: the live calls someone watches (the worker follows them)

Revision ID: 0028_livetx_live_watches
Revises: 0027_scaled_indexes
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0028_livetx_live_watches'
down_revision = '0027_scaled_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('live_watches',
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('watched_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('call_id')
    )


def downgrade() -> None:
    op.drop_table('live_watches')

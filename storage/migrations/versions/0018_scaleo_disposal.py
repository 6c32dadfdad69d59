"""scale out: calls remember when retention disposal removed their hot audio and transcript

Revision ID: 0018_scaleo_disposal
Revises: 0017_sync_live_sampling
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0018_scaleo_disposal'
down_revision = '0017_sync_live_sampling'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disposed_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('disposed_at')

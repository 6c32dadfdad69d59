"""loop: the notifications outbox and per-user notification preferences

Revision ID: 0012_loop_notifications
Revises: 0011_loop_schedules
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0012_loop_notifications'
down_revision = '0011_loop_schedules'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('user_name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=512), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_at', UTCDateTime(), nullable=False),
    sa.Column('lease_until', UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_due', ['state', 'next_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_user_name'), ['user_name'], unique=False)

    op.create_table('notify_prefs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=512), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_name', 'kind', 'channel', name='uq_notify_pref')
    )
    with op.batch_alter_table('notify_prefs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notify_prefs_user_name'), ['user_name'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notify_prefs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notify_prefs_user_name'))

    op.drop_table('notify_prefs')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_user_name'))
        batch_op.drop_index('ix_notifications_due')

    op.drop_table('notifications')


"""review app: sign-in sessions, sign-in throttling, one review per submitted form

Revision ID: 0007_app_sessions
Revises: 0006_live_pauses
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0007_app_sessions'
down_revision = '0006_live_pauses'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_name', sa.String(length=64), nullable=False),
    sa.Column('family', sa.String(length=32), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.Column('handoff_hash', sa.String(length=64), nullable=True),
    sa.Column('handoff_until', UTCDateTime(), nullable=True),
    sa.Column('source', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_app_sessions_expires_at'), 'app_sessions', ['expires_at'], unique=False)
    op.create_index(op.f('ix_app_sessions_family'), 'app_sessions', ['family'], unique=False)
    op.create_index(op.f('ix_app_sessions_handoff_hash'), 'app_sessions', ['handoff_hash'], unique=False)
    op.create_index(op.f('ix_app_sessions_user_name'), 'app_sessions', ['user_name'], unique=False)
    op.create_table('sign_in_failures',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_at', UTCDateTime(), nullable=False),
    sa.Column('blocked_until', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    op.add_column('reviews', sa.Column('form_token', sa.String(length=64), nullable=True))
    op.create_index(op.f('ix_reviews_form_token'), 'reviews', ['form_token'], unique=True)


def downgrade() -> None:
    op.drop_index(op.f('ix_reviews_form_token'), table_name='reviews')
    with op.batch_alter_table('reviews') as batch:
        batch.drop_column('form_token')
    op.drop_table('sign_in_failures')
    op.drop_index(op.f('ix_app_sessions_user_name'), table_name='app_sessions')
    op.drop_index(op.f('ix_app_sessions_handoff_hash'), table_name='app_sessions')
    op.drop_index(op.f('ix_app_sessions_family'), table_name='app_sessions')
    op.drop_index(op.f('ix_app_sessions_expires_at'), table_name='app_sessions')
    op.drop_table('app_sessions')

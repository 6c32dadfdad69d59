"""archive: monthly runs, disc images, where each call lives, legal holds

Revision ID: 0004_archive
Revises: 0003_evaluations
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0004_archive'
down_revision = '0003_evaluations'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('archive_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('media_bytes', sa.BigInteger(), nullable=False),
    sa.Column('disc_count', sa.Integer(), nullable=False),
    sa.Column('call_count', sa.Integer(), nullable=False),
    sa.Column('total_bytes', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('finished_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('month', 'seq', name='uq_archive_runs_month_seq')
    )
    with op.batch_alter_table('archive_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_archive_runs_month'), ['month'], unique=False)

    op.create_table('archive_images',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('disc', sa.Integer(), nullable=False),
    sa.Column('disc_count', sa.Integer(), nullable=False),
    sa.Column('object_key', sa.String(length=256), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('call_count', sa.Integer(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('version_id', sa.String(length=256), nullable=True),
    sa.Column('retention_mode', sa.String(length=16), nullable=True),
    sa.Column('retain_until', UTCDateTime(), nullable=True),
    sa.Column('legal_hold', sa.Boolean(), nullable=False),
    sa.Column('stored_at', UTCDateTime(), nullable=True),
    sa.Column('verified_at', UTCDateTime(), nullable=True),
    sa.Column('fixity_checked_at', UTCDateTime(), nullable=True),
    sa.Column('fixity_ok', sa.Boolean(), nullable=True),
    sa.Column('fixity_error', sa.String(length=512), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['archive_runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('archive_images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_archive_images_month'), ['month'], unique=False)
        batch_op.create_index(batch_op.f('ix_archive_images_object_key'), ['object_key'], unique=True)
        batch_op.create_index(batch_op.f('ix_archive_images_run_id'), ['run_id'], unique=False)

    op.create_table('archive_entries',
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=True),
    sa.Column('length', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['archive_images.id'], ),
    sa.PrimaryKeyConstraint('call_id')
    )
    with op.batch_alter_table('archive_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_archive_entries_image_id'), ['image_id'], unique=False)

    op.create_table('archive_holds',
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.String(length=512), nullable=True),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['archive_images.id'], ),
    sa.PrimaryKeyConstraint('call_id')
    )
    with op.batch_alter_table('archive_holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_archive_holds_image_id'), ['image_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('archive_holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_archive_holds_image_id'))
    op.drop_table('archive_holds')
    with op.batch_alter_table('archive_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_archive_entries_image_id'))
    op.drop_table('archive_entries')
    with op.batch_alter_table('archive_images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_archive_images_run_id'))
        batch_op.drop_index(batch_op.f('ix_archive_images_object_key'))
        batch_op.drop_index(batch_op.f('ix_archive_images_month'))
    op.drop_table('archive_images')
    with op.batch_alter_table('archive_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_archive_runs_month'))
    op.drop_table('archive_runs')

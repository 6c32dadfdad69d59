"""non-speech on the transcript: music on hold and tones found per channel

Revision ID: 0025_perfa_nonspeech
Revises: 0024_perfb_prompts
"""

import sqlalchemy as sa
from alembic import op

revision = '0025_perfa_nonspeech'
down_revision = '0024_perfb_prompts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('transcripts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nonspeech', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('transcripts', schema=None) as batch_op:
        batch_op.drop_column('nonspeech')

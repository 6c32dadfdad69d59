"""scoresum: day_agent_items (the scorecard's item rates per UTC day and agent), filled at once

Revision ID: 0042_scoresum_agent_items
Revises: 0041_poolflags_eval_flag_counts
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel import Session

revision = "0042_scoresum_agent_items"
down_revision = "0041_poolflags_eval_flag_counts"
branch_labels = None
depends_on = None

KEY = ("day", "tenant", "team", "agent_id", "item_id")


def upgrade() -> None:
    op.create_table(
        'day_agent_items',
        sa.Column('day', sa.String(length=10), nullable=False),
        *[sa.Column(k, sa.String(length=64), nullable=False) for k in KEY[1:]],
        sa.Column('answered', sa.Integer(), nullable=False),
        sa.Column('yes', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY),
    )
    op.create_index('ix_day_agent_items_agent_day', 'day_agent_items',
                    ['agent_id', 'day', 'tenant', 'team', 'item_id', 'answered', 'yes'], unique=False)
    # filled now from the raw rows, one INSERT ... SELECT ... GROUP BY per 31 days (storage/agent_items.py);
    # readers take a day from here only if no hour of it was touched since the rollup's watermark, and
    # the rows are as current as this statement, so they need no refresh first
    from storage import agent_items
    agent_items.refresh(Session(bind=op.get_bind()), None)


def downgrade() -> None:
    op.drop_index('ix_day_agent_items_agent_day', table_name='day_agent_items')
    op.drop_table('day_agent_items')

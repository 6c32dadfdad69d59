"""scale: call-ID prefix search and the inspectors' answers, indexes chosen with EXPLAIN at 100 k calls

Revision ID: 0027_scaled_indexes
Revises: 0026_sync2_live_review
"""

import sqlalchemy as sa
from alembic import op

revision = '0027_scaled_indexes'
down_revision = '0026_sync2_live_review'
branch_labels = None
depends_on = None

HUMAN = "final_source = 'human'"


def upgrade() -> None:
    # LIKE 'prefix%' uses a btree on PostgreSQL only with pattern ops (the primary key's does not serve it)
    op.create_index('ix_calls_call_id_pattern', 'calls', ['call_id'], unique=False,
                    postgresql_ops={'call_id': 'varchar_pattern_ops'})
    op.create_index('ix_evaluation_items_human', 'evaluation_items', ['evaluation_id'], unique=False,
                    postgresql_where=sa.text(HUMAN), sqlite_where=sa.text(HUMAN))


def downgrade() -> None:
    op.drop_index('ix_evaluation_items_human', table_name='evaluation_items')
    op.drop_index('ix_calls_call_id_pattern', table_name='calls')

"""scorepage: the agreement rollup per tenant and team, with the day of lo (the dashboard's agreement is
scoped to the calls its viewer may see and ends at the window's end); covering indexes of hour_stats for
the dashboard's tiles and trend and the scorecard's team score (PostgreSQL; plain ones on SQLite)

The rows are recomputed by the next ``callqc db rollup`` (the watermark is cleared); until then the
agreement is read from the raw rows, exact but slow on a large database.

Revision ID: 0036_scorepage_agreement_scope
Revises: 0035_scaleC_flags
"""

import sqlalchemy as sa
from alembic import op

revision = "0036_scorepage_agreement_scope"
down_revision = "0035_scaleC_flags"
branch_labels = None
depends_on = None


TILES = ['agent_id', 'queue', 'calls', 'reviews', 'review_scored', 'review_score_sum', 'review_pass_known',
         'review_passed', 'review_retraining', 'autos', 'auto_critical_fails', 'duration_s', 'fcr_answers',
         'fcr_answers_yes']


def _clear() -> None:
    op.execute("DELETE FROM agreement_call_days")
    op.execute("UPDATE rollup_state SET watermark = NULL WHERE name = 'agreement_days'")


def upgrade() -> None:
    op.drop_table('agreement_days')
    op.create_table(
        'agreement_days',
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('lo_day', sa.String(length=10), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('team', sa.String(length=64), nullable=False),
        sa.Column('item_id', sa.String(length=64), nullable=False),
        sa.Column('auto_answer', sa.String(length=16), nullable=False),
        sa.Column('final_answer', sa.String(length=16), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'lo_day', 'tenant', 'team', 'item_id', 'auto_answer', 'final_answer'),
    )
    op.create_index('ix_agreement_days_scope', 'agreement_days', ['tenant', 'team', 'day'], unique=False)
    _clear()
    op.create_index('ix_hour_stats_team_tiles', 'hour_stats', ['tenant', 'team', 'hour'], unique=False,
                    postgresql_include=TILES)
    op.create_index('ix_hour_stats_team_scores', 'hour_stats', ['tenant', 'team', 'rubric_id', 'hour'], unique=False,
                    postgresql_include=['human_n', 'human_sum', 'auto_n', 'auto_sum'])


def downgrade() -> None:
    op.drop_index('ix_hour_stats_team_scores', table_name='hour_stats')
    op.drop_index('ix_hour_stats_team_tiles', table_name='hour_stats')
    op.drop_index('ix_agreement_days_scope', table_name='agreement_days')
    op.drop_table('agreement_days')
    op.create_table(
        'agreement_days',
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('item_id', sa.String(length=64), nullable=False),
        sa.Column('auto_answer', sa.String(length=16), nullable=False),
        sa.Column('final_answer', sa.String(length=16), nullable=False),
        sa.Column('counted', sa.Integer(), nullable=False),
        sa.Column('dropped', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'item_id', 'auto_answer', 'final_answer'),
    )
    _clear()

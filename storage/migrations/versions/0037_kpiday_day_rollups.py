"""kpiday: the day layer above the hour rollups (day_stats, day_repeats, day_shifts), filled at once

Revision ID: 0037_kpiday_day_rollups
Revises: 0036_scorepage_agreement_scope
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel import Session

revision = "0037_kpiday_day_rollups"
down_revision = "0036_scorepage_agreement_scope"
branch_labels = None
depends_on = None

KEY = ("day", "tenant", "team", "agent_id")
INTS = ("calls", "human_n", "auto_n", "held_n", "held_count", "metric_n", "metric_overtalk_count", "acw_n",
        "fcr_item_n", "fcr_item_yes", "complaint_n", "complaint_yes", "passed_n", "passed_yes", "critical_fails",
        "retraining", "reviews", "review_scored", "review_pass_known", "review_passed", "review_retraining",
        "autos", "auto_critical_fails", "fcr_answers", "fcr_answers_yes")
SUMS = ("calls", "duration_s", "talk_s", "human_n", "human_sum", "auto_n", "auto_sum", "held_n", "held_hold_s",
        "held_duration_s", "held_count", "metric_n", "metric_non_talk_s", "metric_overtalk_s", "metric_duration_s",
        "metric_overtalk_count", "acw_n", "acw_s", "acw_talk_s", "fcr_item_n", "fcr_item_yes", "complaint_n",
        "complaint_yes", "passed_n", "passed_yes", "critical_fails", "retraining", "reviews", "review_scored",
        "review_score_sum", "review_pass_known", "review_passed", "review_retraining", "autos",
        "auto_critical_fails", "fcr_answers", "fcr_answers_yes")
COUNTS = ("fcr_known", "repeat_any", "repeat_tenant", "repeat_team")


def _keys() -> list[sa.Column]:
    return [sa.Column('day', sa.String(length=10), nullable=False),
            *[sa.Column(k, sa.String(length=64), nullable=False) for k in KEY[1:]]]


def upgrade() -> None:
    op.create_table(
        'day_stats', *_keys(),
        *[sa.Column(c, sa.Integer() if c in INTS else sa.Float(), nullable=False) for c in SUMS],
        sa.PrimaryKeyConstraint(*KEY),
    )
    op.create_index('ix_day_stats_tenant_team_day', 'day_stats', ['tenant', 'team', 'day'], unique=False)
    op.create_table(
        'day_repeats', *_keys(), *[sa.Column(c, sa.Integer(), nullable=False) for c in COUNTS],
        sa.PrimaryKeyConstraint(*KEY),
    )
    op.create_index('ix_day_repeats_tenant_team_day', 'day_repeats', ['tenant', 'team', 'day'], unique=False)
    op.create_table(
        'day_shifts', *_keys(),
        sa.Column('calls', sa.Integer(), nullable=False),
        sa.Column('worked_s', sa.Float(), nullable=False),
        sa.Column('first_start', sa.Float(), nullable=False),  # seconds since 1970, UTC
        sa.Column('first_end', sa.Float(), nullable=False),
        sa.Column('last_end', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY),
    )
    op.create_index('ix_day_shifts_tenant_team_day', 'day_shifts', ['tenant', 'team', 'day'], unique=False)
    # filled now, in month-long statements: the sums from the hour rows (INSERT ... SELECT ... GROUP BY,
    # as current as the hour rows they are read from), the shifts from the calls (on PostgreSQL one
    # INSERT ... SELECT with window functions per month)
    from storage import day_rollups
    day_rollups.refresh(Session(bind=op.get_bind()), None, link=False)  # the joins: 0040_tenantkpi_day_joins


def downgrade() -> None:
    for name in ('day_shifts', 'day_repeats', 'day_stats'):
        op.drop_index(f'ix_{name}_tenant_team_day', table_name=name)
        op.drop_table(name)

"""scaleC: narrow indexes for a sampling run's pool (index-only scans of a team's month)

Revision ID: 0035_scaleC_flags
Revises: 0034_scaleA_agreement_days
"""

import sqlalchemy as sa
from alembic import op

revision = '0035_scaleC_flags'
down_revision = '0034_scaleA_agreement_days'
branch_labels = None
depends_on = None

# a third of the answers; a sampling run counts a month's insufficient and critical "no" answers per
# evaluation from this index alone (EXPLAIN: index-only scans instead of a heap read per answer)
FLAGGED = "auto_answer IN ('insufficient', 'no')"
AUTO = "kind = 'auto' AND active"


def upgrade() -> None:
    op.create_index('ix_evaluation_items_auto_flags', 'evaluation_items', ['evaluation_id', 'auto_answer', 'critical'],
                    unique=False, postgresql_where=sa.text(FLAGGED), sqlite_where=sa.text(FLAGGED))
    # each call's active auto-evaluations with what a sampling pool reads of them (PostgreSQL: covering)
    op.create_index('ix_evaluations_auto_active', 'evaluations', ['call_id', 'id'], unique=False,
                    postgresql_include=['total', 'passed', 'pass_mark'], postgresql_where=sa.text(AUTO),
                    sqlite_where=sa.text(AUTO))
    # a team's calls of a period with their IDs and agents: the pool's calls without a heap read each
    op.drop_index('ix_calls_tenant_team_started', table_name='calls')
    op.create_index('ix_calls_tenant_team_started', 'calls', ['tenant', 'team', 'started_at'], unique=False,
                    postgresql_include=['call_id', 'agent_id'])


def downgrade() -> None:
    op.drop_index('ix_calls_tenant_team_started', table_name='calls')
    op.create_index('ix_calls_tenant_team_started', 'calls', ['tenant', 'team', 'started_at'], unique=False)
    op.drop_index('ix_evaluations_auto_active', table_name='evaluations')
    op.drop_index('ix_evaluation_items_auto_flags', table_name='evaluation_items')

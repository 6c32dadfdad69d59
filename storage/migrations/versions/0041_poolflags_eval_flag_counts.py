"""poolflags: each evaluation's counted auto answers (insufficient, critical "no") stored on its row

Revision ID: 0041_poolflags_eval_flag_counts
Revises: 0040_tenantkpi_day_joins
"""

import sqlalchemy as sa
from alembic import op

revision = "0041_poolflags_eval_flag_counts"
down_revision = "0040_tenantkpi_day_joins"
branch_labels = None
depends_on = None

AUTO = "kind = 'auto' AND active"

# one statement over the flagged answers (the partial index ix_evaluation_items_auto_flags holds exactly
# them), grouped once; evaluations without any keep the columns' default 0. updated_at is left alone:
# nothing about the evaluation changed, and the agreement rollup reads updated_at as "changed since".
BACKFILL = """
UPDATE evaluations SET auto_insufficient = f.n_ins, auto_critical_no = f.n_crit
FROM (SELECT evaluation_id,
             sum(CASE WHEN auto_answer = 'insufficient' THEN 1 ELSE 0 END) AS n_ins,
             sum(CASE WHEN auto_answer = 'no' AND critical <> '' THEN 1 ELSE 0 END) AS n_crit
      FROM evaluation_items WHERE auto_answer IN ('insufficient', 'no')
      GROUP BY evaluation_id) AS f
WHERE f.evaluation_id = evaluations.id
"""


def upgrade() -> None:
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auto_insufficient", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("auto_critical_no", sa.Integer(), nullable=False, server_default="0"))
    op.execute(BACKFILL)
    # the pool's probe per call, now with the counts: index-only on PostgreSQL
    op.drop_index("ix_evaluations_auto_active", table_name="evaluations")
    op.create_index("ix_evaluations_auto_active", "evaluations", ["call_id", "id"], unique=False,
                    postgresql_include=["total", "passed", "pass_mark", "auto_insufficient", "auto_critical_no"],
                    postgresql_where=sa.text(AUTO), sqlite_where=sa.text(AUTO))


def downgrade() -> None:
    op.drop_index("ix_evaluations_auto_active", table_name="evaluations")
    op.create_index("ix_evaluations_auto_active", "evaluations", ["call_id", "id"], unique=False,
                    postgresql_include=["total", "passed", "pass_mark"], postgresql_where=sa.text(AUTO),
                    sqlite_where=sa.text(AUTO))
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_column("auto_critical_no")
        batch_op.drop_column("auto_insufficient")

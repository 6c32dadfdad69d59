"""tenantkpi: each day_shifts row keeps its join to the day before (calls per hour read without a sort)

Revision ID: 0040_tenantkpi_day_joins
Revises: 0039_samplerun_live_plan_scope
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel import Session

revision = "0040_tenantkpi_day_joins"
down_revision = "0039_samplerun_live_plan_scope"
branch_labels = None
depends_on = None

COLUMNS = (("join_s", sa.Float()), ("join_past_first", sa.Integer()), ("crossed", sa.Integer()),
           ("reaches", sa.Integer()))


def upgrade() -> None:
    with op.batch_alter_table('day_shifts', schema=None) as batch_op:
        for name, kind in COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=False, server_default='0'))
    # written now for every stored day (one UPDATE per day), as the refresh writes them
    from storage import day_rollups
    session = Session(bind=op.get_bind())
    first, last = session.execute(sa.select(sa.func.min(day_rollups.day_shifts.c.day),
                                            sa.func.max(day_rollups.day_shifts.c.day))).one()
    if first is not None:
        day_rollups.link_days(session, day_rollups.day_start(first), day_rollups.day_start(last) + day_rollups.DAY)


def downgrade() -> None:
    with op.batch_alter_table('day_shifts', schema=None) as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)

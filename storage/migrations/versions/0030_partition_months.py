"""partitions: segments and transcripts carry their call's start; on PostgreSQL segments,
transcripts and audit_log become PARTITION BY RANGE on a month (one partition per month + default)

Both databases: ``call_started_at`` (the call's ``started_at``) is added to segments and transcripts,
filled from calls, NOT NULL; ``uq_segments_call_idx`` gains it (a unique key of a partitioned table
must hold the partition key; a call has one start, so it still allows one row per call and idx).

PostgreSQL only: each table is rebuilt as a partitioned table with the same columns, defaults,
sequence, keys (the partition key added to the primary key), references and indexes (whatever
indexes the table has when this runs, so other migrations may add theirs before or after), with a
partition for every month that has rows, for this month and the next three, and a default
partition; every row is copied. Downgrade rebuilds plain tables the same way.

Revision ID: 0030_partition_months
Revises: 0029_pbxcc_channel_voices
"""

import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime
from storage.partitions import KEYS, Month, bounds_sql, partition_name

revision = '0030_partition_months'
down_revision = '0029_pbxcc_channel_voices'
branch_labels = None
depends_on = None

AHEAD = 3  # months made ahead at migration time; the workers' upkeep keeps this up afterwards
CARRIED = ("segments", "transcripts")  # tables that get call_started_at


def _sqlite_up() -> None:
    for table in CARRIED:
        with op.batch_alter_table(table) as b:
            b.add_column(sa.Column('call_started_at', UTCDateTime(), nullable=True))
        op.execute(f"UPDATE {table} SET call_started_at = (SELECT c.started_at FROM calls c "
                   f"WHERE c.call_id = {table}.call_id)")
        with op.batch_alter_table(table) as b:
            b.alter_column('call_started_at', existing_type=UTCDateTime(), nullable=False)
            if table == "segments":
                b.drop_constraint('uq_segments_call_idx', type_='unique')
                b.create_unique_constraint('uq_segments_call_idx', ['call_id', 'idx', 'call_started_at'])


def _sqlite_down() -> None:
    for table in CARRIED:
        with op.batch_alter_table(table) as b:
            if table == "segments":
                b.drop_constraint('uq_segments_call_idx', type_='unique')
                b.create_unique_constraint('uq_segments_call_idx', ['call_id', 'idx'])
            b.drop_column('call_started_at')


def _shape(conn: sa.Connection, table: str) -> dict:
    """What a rebuild must carry over: plain indexes, key constraints and references, the sequence."""
    oid = conn.execute(sa.text("SELECT CAST(:t AS regclass)::oid"), {"t": table}).scalar()
    indexes = [d.replace(" ON ONLY ", " ON ") for (d,) in conn.execute(sa.text(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = :o AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = :o)"), {"o": oid})]
    keys = conn.execute(sa.text("SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
                                "WHERE conrelid = :o AND contype IN ('p', 'u', 'f') ORDER BY contype DESC, conname"),
                        {"o": oid}).all()
    seq = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar() \
        if table != "transcripts" else None
    cols = [c for (c,) in conn.execute(sa.text(
        "SELECT attname FROM pg_attribute WHERE attrelid = :o AND attnum > 0 AND NOT attisdropped ORDER BY attnum"),
        {"o": oid})]
    return {"indexes": indexes, "keys": keys, "seq": seq, "cols": cols}


def _key_def(definition: str, key: str, *, add: bool) -> str:
    """``PRIMARY KEY (id)`` -> ``PRIMARY KEY (id, at)`` (add) or back (remove)."""
    m = re.fullmatch(r"(PRIMARY KEY|UNIQUE) \((.*)\)(.*)", definition)
    assert m is not None, definition
    cols = [c.strip() for c in m.group(2).split(",") if c.strip() != key]
    if add:
        cols.append(key)
    return f"{m.group(1)} ({', '.join(cols)}){m.group(3)}"


def _rebuild(conn: sa.Connection, table: str, *, partition: bool) -> None:
    key = KEYS[table]
    shape = _shape(conn, table)
    old = f"{table}_{'unpartitioned' if partition else 'partitioned'}"
    conn.execute(sa.text(f'ALTER TABLE "{table}" RENAME TO "{old}"'))
    if shape["seq"]:
        conn.execute(sa.text(f"ALTER SEQUENCE {shape['seq']} OWNED BY NONE"))
    cols = [c for c in shape["cols"] if c != key or table not in CARRIED]
    names = ", ".join(f'"{c}"' for c in cols)
    if partition:
        extra = ", call_started_at timestamp with time zone NOT NULL" if table in CARRIED else ""
        conn.execute(sa.text(f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING STORAGE{extra}) '
                             f'PARTITION BY RANGE ({key})'))
        conn.execute(sa.text(f'CREATE TABLE "{table}_default" PARTITION OF "{table}" DEFAULT'))
        for month in _months(conn, old, key):
            conn.execute(sa.text(f'CREATE TABLE "{partition_name(table, month)}" PARTITION OF "{table}" '
                                 f'{bounds_sql(month)}'))
        if table in CARRIED:
            conn.execute(sa.text(
                f'INSERT INTO "{table}" ({names}, call_started_at) SELECT {", ".join(f"o.{c}" for c in cols)}, '
                f'c.started_at FROM "{old}" o JOIN calls c ON c.call_id = o.call_id'))
        else:
            conn.execute(sa.text(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "{old}"'))
    else:
        conn.execute(sa.text(f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING STORAGE)'))
        if table in CARRIED:
            conn.execute(sa.text(f'ALTER TABLE "{table}" DROP COLUMN {key}'))
        conn.execute(sa.text(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "{old}"'))
    conn.execute(sa.text(f'DROP TABLE "{old}" CASCADE'))  # its partitions and indexes too
    if shape["seq"]:
        conn.execute(sa.text(f"ALTER SEQUENCE {shape['seq']} OWNED BY \"{table}\".id"))
    for name, kind, definition in shape["keys"]:
        if kind in ("p", "u"):
            definition = _key_def(definition, key, add=partition)
        conn.execute(sa.text(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'))
    for definition in shape["indexes"]:
        conn.execute(sa.text(definition))
    conn.execute(sa.text(f'ANALYZE "{table}"'))


def _months(conn: sa.Connection, old: str, key: str) -> list[Month]:
    """Months that hold rows (by the call's start for carried tables), and this one and AHEAD more."""
    if key == "call_started_at":
        q = f"SELECT DISTINCT date_trunc('month', c.started_at, 'UTC') FROM calls c WHERE EXISTS " \
            f"(SELECT 1 FROM \"{old}\" o WHERE o.call_id = c.call_id)"
    else:
        q = f"SELECT DISTINCT date_trunc('month', {key}, 'UTC') FROM \"{old}\""
    found = {Month.of(m) for (m,) in conn.execute(sa.text(q))}
    this = Month.of(datetime.now(UTC))
    found.update(this.plus(n) for n in range(AHEAD + 1))
    return sorted(found)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        _sqlite_up()
        return
    for table in KEYS:
        _rebuild(conn, table, partition=True)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        _sqlite_down()
        return
    for table in KEYS:
        _rebuild(conn, table, partition=False)

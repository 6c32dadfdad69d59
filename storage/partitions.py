"""Monthly partitions of the big append-mostly tables on PostgreSQL (SQLite keeps plain tables).

``segments`` and ``transcripts`` are ``PARTITION BY RANGE (call_started_at)`` (the start of the call
the rows belong to, copied onto them when they are written, see storage/transcripts.py) and
``audit_log`` is ``PARTITION BY RANGE (at)``: one partition per calendar month (UTC) named
``<table>_yYYYYmMM``, plus ``<table>_default`` for rows of a month that has none. Migration
0028 converts the tables; :func:`upkeep` creates the coming months' partitions ahead (the workers
run it, ``callqc db partitions --create`` too); retention disposal drops a month's ``segments`` and
``transcripts`` partitions when every call of that month is disposed (storage/disposal.py).

``calls`` is not partitioned: every other table points at it by ``call_id``, and PostgreSQL wants
each unique key of a partitioned table to contain the partition key, so ``call_id`` alone could no
longer be its key, nor the target of those references. Evaluations are kept for good and read
through the day rollup, so they stay plain tables too.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from storage.errors import InvalidInput

log = logging.getLogger(__name__)

# table -> the timestamp column its months are cut on
KEYS: dict[str, str] = {"segments": "call_started_at", "transcripts": "call_started_at", "audit_log": "at"}
DISPOSABLE = ("segments", "transcripts")  # what retention disposal may drop month by month
_NAME = re.compile(r"^(?P<table>" + "|".join(KEYS) + r")_(?:y(?P<y>\d{4})m(?P<m>\d{2})|default)$")
_LOCK = 0x63616C6C  # advisory lock key: one partition maker at a time ("call")
LOCK_TIMEOUT = "5s"  # DDL on a busy table waits at most this long, then gives up until the next upkeep


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def of(cls, at: datetime) -> Month:
        at = at.astimezone(UTC)
        return cls(at.year, at.month)

    @classmethod
    def parse(cls, raw: str) -> Month:
        m = re.fullmatch(r"(\d{4})-(0[1-9]|1[0-2])", raw.strip())
        if not m:
            raise InvalidInput(f"month {raw!r}: use YYYY-MM, e.g. 2026-05")
        return cls(int(m.group(1)), int(m.group(2)))

    def plus(self, n: int) -> Month:
        m0 = self.year * 12 + self.month - 1 + n
        return Month(m0 // 12, m0 % 12 + 1)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.plus(1).start

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def partition_name(table: str, month: Month) -> str:
    return f"{table}_y{month.year:04d}m{month.month:02d}"


def bounds_sql(month: Month) -> str:
    """``FOR VALUES FROM (..) TO (..)`` of a month's partition (literals made from two integers)."""
    return f"FOR VALUES FROM ('{month.start:%Y-%m-%d} 00:00:00+00') TO ('{month.end:%Y-%m-%d} 00:00:00+00')"


def is_partition(name: str) -> bool:
    """True for a partition's own table name (schema comparisons skip them: the models know the parent)."""
    return _NAME.match(name) is not None


def is_postgres(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def partitioned(conn: sa.Connection, table: str) -> bool:
    """True when ``table`` is a partitioned table on this database (never on SQLite)."""
    if not is_postgres(conn):
        return False
    return conn.execute(sa.text("SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                                "WHERE c.relname = :t AND c.relnamespace = current_schema()::regnamespace"),
                        {"t": table}).first() is not None


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    month: Month | None  # None: the default partition
    rows: int  # the planner's estimate (pg_class.reltuples), not a count

    def line(self) -> str:
        return f"{self.table:<12} {str(self.month) if self.month else 'default':<8} {self.name:<24} ~{self.rows} rows"


def partitions(conn: sa.Connection, table: str | None = None) -> list[Partition]:
    """The partitions of the partitioned tables (or of one), by table and month; [] on SQLite."""
    if not is_postgres(conn):
        return []
    rows = conn.execute(sa.text(
        "SELECT p.relname AS parent, c.relname AS name, greatest(c.reltuples, 0)::bigint AS rows "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE p.relname = ANY(:tables) AND p.relnamespace = current_schema()::regnamespace"),
        {"tables": [table] if table else list(KEYS)}).all()
    out = []
    for parent, name, n in rows:
        m = _NAME.match(name)
        month = Month(int(m["y"]), int(m["m"])) if m and m["y"] else None
        out.append(Partition(parent, name, month, int(n)))
    return sorted(out, key=lambda p: (p.table, p.month is None, p.month or Month(0, 1)))


def create_month(conn: sa.Connection, table: str, month: Month) -> bool:
    """Give ``table`` its partition for ``month`` if it has none; rows of that month waiting in the
    default partition move into it. True when one was made. Runs in the caller's transaction."""
    name, key = partition_name(table, month), KEYS[table]
    if conn.execute(sa.text("SELECT to_regclass(:n)"), {"n": name}).scalar() is not None:
        return False
    bounds = {"a": month.start, "b": month.end}
    # made beside the table and attached: CREATE ... PARTITION OF fails when the default partition
    # already holds rows of the month, and attaching builds the parent's indexes on it
    conn.execute(sa.text(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING STORAGE)'))
    default = f"{table}_default"
    if conn.execute(sa.text("SELECT to_regclass(:n)"), {"n": default}).scalar() is not None:
        moved = conn.execute(sa.text(f'WITH moved AS (DELETE FROM "{default}" WHERE {key} >= :a AND {key} < :b '
                                     f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved'), bounds).rowcount
        if moved:  # without statistics the planner misjudges it (a full sort instead of a merge by index)
            conn.execute(sa.text(f'ANALYZE "{name}"'))
    conn.execute(sa.text(f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" {bounds_sql(month)}'))
    log.info("partitions: %s made for %s", name, month)
    return True


def ensure_months(conn: sa.Connection, first: Month, last: Month) -> list[str]:
    """Every partitioned table gets its partitions for ``first``..``last``; the names made."""
    if not is_postgres(conn):
        return []
    if last < first:
        raise InvalidInput(f"months {first}..{last}: the last is before the first")
    conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    made = []
    for table in KEYS:
        if not partitioned(conn, table):
            continue
        month = first
        while month <= last:
            if create_month(conn, table, month):
                made.append(partition_name(table, month))
            month = month.plus(1)
    return made


def upkeep(engine: sa.Engine, *, ahead: int, now: datetime | None = None) -> list[str]:
    """Make this month's and the next ``ahead`` months' partitions where missing (one transaction);
    the names made. Nothing on SQLite."""
    if engine.dialect.name != "postgresql":
        return []
    this = Month.of(now or datetime.now(UTC))
    with engine.begin() as conn:
        return ensure_months(conn, this, this.plus(ahead))


def drop_month(conn: sa.Connection, table: str, month: Month) -> bool:
    """Drop ``table``'s partition of ``month`` (in the caller's transaction; the caller has made sure
    nothing in it is still wanted); False when there is none."""
    name = partition_name(table, month)
    if conn.execute(sa.text("SELECT to_regclass(:n)"), {"n": name}).scalar() is None:
        return False
    conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    conn.execute(sa.text(f'ALTER TABLE "{table}" DETACH PARTITION "{name}"'))
    conn.execute(sa.text(f'DROP TABLE "{name}"'))
    log.info("partitions: %s dropped", name)
    return True


def analyze(conn: sa.Connection) -> None:
    """Statistics of the partitioned tables as wholes: autovacuum analyzes each partition but never a
    parent, so run after a bulk load (populate does)."""
    if is_postgres(conn):
        for table in KEYS:
            conn.execute(sa.text(f'ANALYZE "{table}"'))


def has_month(conn: sa.Connection, table: str, month: Month) -> bool:
    return is_postgres(conn) and conn.execute(
        sa.text("SELECT to_regclass(:n)"), {"n": partition_name(table, month)}).scalar() is not None

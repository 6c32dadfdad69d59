"""Shared checks of the hostile-input suites: nothing stored, nothing lost, one-line messages."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from storage.calls import Call
from storage.db import get_engine, session
from storage.jobs import Job
from storage.models import AuditEvent
from storage.settings import get_settings
from storage.stores import make_store


def deep(levels: int) -> Any:
    node: Any = 1
    for _ in range(levels):
        node = {"n": node}
    return node


def stored() -> tuple[list[str], int, int, int]:
    """(object keys in the recordings bucket, calls, jobs, audit rows)."""
    keys = [o.key for o in make_store().list(get_settings().bucket_recordings)]
    with session() as s:
        return (
            keys,
            len(s.exec(select(Call)).all()),
            len(s.exec(select(Job)).all()),
            len(s.exec(select(AuditEvent)).all()),
        )


def assert_nothing_stored() -> None:
    assert stored() == ([], 0, 0, 0)


def assert_one_line(text: str) -> None:
    assert text and "\n" not in text.strip() and "Traceback" not in text and len(text) < 600, text


def block_registration() -> None:
    """Make every insert into ``calls`` fail inside the database (a trigger): registration then
    fails after the object was stored, and the object must be removed again."""
    engine = get_engine()
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER no_calls BEFORE INSERT ON calls BEGIN SELECT RAISE(ABORT, 'blocked'); END"
            )
        else:
            conn.execute(sa.text(
                "CREATE OR REPLACE FUNCTION no_calls() RETURNS trigger AS "
                "$$ BEGIN RAISE EXCEPTION 'blocked'; END $$ LANGUAGE plpgsql"
            ))
            conn.execute(sa.text("DROP TRIGGER IF EXISTS no_calls ON calls"))
            conn.execute(sa.text(
                "CREATE TRIGGER no_calls BEFORE INSERT ON calls FOR EACH ROW EXECUTE FUNCTION no_calls()"
            ))


def unblock_registration() -> None:
    engine = get_engine()
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS no_calls")
        else:
            conn.execute(sa.text("DROP TRIGGER IF EXISTS no_calls ON calls"))


def as_json(value: Any) -> str:
    return json.dumps(value)

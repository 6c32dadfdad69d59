"""The call page (inspection.open_call) reads each thing once: the same content as the page's parts read
one by one, in fewer queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from review_app.workflow import evalview
from review_app.workflow.callview import channel_check_json
from review_app.workflow.evalview import HumanAnswers
from review_app.workflow.inspection import open_call, submit_review
from storage import db as dbmod
from storage.calls import Call
from storage.db import session
from storage.evaluations import current_evaluation
from storage.transcripts import TranscriptSegment
from tests import review_world

# the call, the audit row, the evaluations, their items, the rubric, reviews, the open assignment, the
# transcript, the two voice-print reads of the channel check and the PCI pauses (it was 16)
MOST_QUERIES = 11


@contextmanager
def counted() -> Iterator[list[str]]:
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.split(None, 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
            statements.append(statement)  # not SQLite's BEGIN: a query is a round trip for data

    engine = dbmod.get_engine()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def test_call_page_shows_the_same_content_in_fewer_queries(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    review_world.fast_hashing(monkeypatch)
    world = review_world.build(calls_per_agent=1)
    insp = world.users["insp1"]
    cid = "a2-call-0"  # the rude call: a critical fail, so the human answers differ from the auto ones
    with session() as s:
        auto = evalview.latest_auto(s, cid)
        assert auto is not None
        submit_review(s, insp, cid, human=HumanAnswers(answers={auto.items[0].item_id: "n/a"}, comment="ok"),
                      verdict="retraining")
        # words on a segment, which the page does not show
        s.execute(sa.update(TranscriptSegment).where(TranscriptSegment.call_id == cid)
                  .values(words=[{"start": 0.5, "end": 0.9, "word": " Yes", "probability": 0.9}]))
    with session() as s, counted() as statements:
        view = open_call(s, insp, cid, source="test")
    assert len(statements) <= MOST_QUERIES, statements
    with session() as s:
        call = s.get(Call, cid)
        assert call is not None
        human = current_evaluation(s, cid, kind="human")
        assert human is not None
        with counted() as one_by_one:
            items = evalview.rubric_items(s, cid)
            stored = evalview.segments(s, cid)
            check = channel_check_json(s, call)
            humans = [evalview._view(s, human)]
            latest = evalview.latest_auto(s, cid)
        assert view.auto == latest and view.items == items and view.humans == humans
        assert view.channel_check == check and check is not None
        assert view.segments == [replace(seg, words=()) for seg in stored]
        assert any(seg.words for seg in stored)  # they are stored, and left out of the page
        assert len(view.reviews) == 1 and view.reviews[0].verdict == "retraining"
    assert len(one_by_one) > len(statements)  # some of the page's parts alone took more than the whole page

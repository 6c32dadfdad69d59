"""The review app and the archive: archived calls play through the one retrieval path; admins see failed discs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select
from streamlit.testing.v1 import AppTest

from review_app.i18n import t
from review_app.session import _TOKEN as TOKEN
from storage.access import failed_archive_images, recording
from storage.archive.run import run_month
from storage.archive.tables import ArchiveImage
from storage.archive.verify import verify_images
from storage.db import session
from storage.errors import Forbidden
from storage.models import AuditEvent
from storage.retrieval import RecordingSource
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from storage.users import Principal, Role
from tests.archive_helpers import make_calls

APP = str(Path(__file__).resolve().parent.parent / "review_app" / "app.py")
SMALL_DISC = 340_000  # two of the 20 KB test calls per disc (as in test_archive.py)
AGENT = Principal(name="agent-a1", role=Role.agent, agent_id="a1")
OTHER_AGENT = Principal(name="agent-a2", role=Role.agent, agent_id="a2")
ADMIN = Principal(name="boss", role=Role.admin)
INSPECTOR = Principal(name="insp", role=Role.inspector)


def _admin_token() -> str:
    """A signed-in session of ADMIN (the app re-reads the user row on every run, so the row must exist)."""
    from storage.users import User, add_user
    from tests.review_world import PASSWORD, session_token

    with session() as s:
        if not s.exec(select(User).where(User.name == ADMIN.name)).first():
            add_user(s, ADMIN.name, role=Role.admin, password=PASSWORD)
    return session_token(ADMIN.name)


def test_an_archived_call_plays_through_the_same_path_and_is_audited(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the hot copy gone, the player gets the archive copy; the agent rule and the audit still apply."""
    monkeypatch.setenv("CALLQC_ARCHIVE_DELETE_HOT", "true")
    reset_settings()
    store = make_store()
    calls = make_calls(store, month="2024-05", n=2)  # agent a1's
    run_month("2024-05", media=SMALL_DISC, actor="test", store=store)
    cid = sorted(calls)[0]
    rec = recording(AGENT, cid, source="test")
    assert rec.source == RecordingSource.archive and rec.data == calls[cid]
    with pytest.raises(Forbidden):
        recording(OTHER_AGENT, cid, source="test")
    with session() as s:
        plays = list(s.exec(select(AuditEvent).where(AuditEvent.action == "play")))
    assert [(p.actor, p.call_id) for p in plays] == [("agent-a1", cid)]


def test_admins_see_failed_archive_verifications(sqlite_db: str) -> None:
    """A disc that fails its fixity check is listed for admins (domain and page); inspectors are refused."""
    store = make_store()
    make_calls(store, month="2024-05", n=4)
    run_month("2024-05", media=SMALL_DISC, actor="test", store=store)
    with session() as s:
        first = s.exec(select(ArchiveImage).order_by(col(ArchiveImage.disc))).first()
    assert first is not None
    damaged = get_settings().resolved_store_dir / get_settings().bucket_archive / first.object_key
    damaged.chmod(0o644)
    raw = bytearray(damaged.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    verify_images(month="2024-05", actor="cron")
    with session() as s:
        assert [i.object_key for i in failed_archive_images(s, ADMIN)] == [first.object_key]
        with pytest.raises(Forbidden):
            failed_archive_images(s, INSPECTOR)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = _admin_token()
    at.run()
    at.switch_page("views/archive.py").run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [t("archive_failed_count", n=1)]
    assert list(at.dataframe[0].value[t("object_key")]) == [first.object_key]


def test_archive_page_says_when_there_is_no_disc_or_an_unchecked_one(sqlite_db: str) -> None:
    """No disc yet is its own state, not "every disc passed"; an unchecked disc is named, not passed."""

    def page() -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.session_state[TOKEN] = _admin_token()
        at.run()
        at.switch_page("views/archive.py").run()
        assert not at.exception and not at.error, at.exception
        return at

    at = page()
    assert [i.value for i in at.info] == [t("archive_none")] and not at.success
    store = make_store()
    make_calls(store, month="2024-05", n=2)
    run_month("2024-05", media=SMALL_DISC, actor="test", store=store)
    assert [m.value for m in page().success] == [t("archive_all_ok")]
    with session() as s:
        image = s.exec(select(ArchiveImage)).first()
        assert image is not None
        image.fixity_ok = None
        s.add(image)
    at = page()
    assert [w.value for w in at.warning] == [t("archive_unchecked", n=1)] and not at.success

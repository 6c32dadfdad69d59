"""Each user's own time zone: set on the Profile page or with `callqc user timezone`, used for the
times shown to that user only; without one, the app's CALLQC_TIMEZONE."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from review_app.i18n import t
from review_app.session import _TOKEN as TOKEN
from storage.db import session
from storage.settings import reset_settings
from storage.users import UnknownTimeZone, User, set_timezone
from tests import review_world
from tests.review_world import DAY0

APP = str(Path(__file__).resolve().parent.parent / "review_app" / "app.py")


@pytest.fixture
def world(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> review_world.World:
    monkeypatch.setenv("CALLQC_LOCALE", "en")
    monkeypatch.setenv("CALLQC_TIMEZONE", "Asia/Shanghai")
    reset_settings()
    review_world.fast_hashing(monkeypatch)
    return review_world.build()


def _shown(zone: str) -> str:
    return DAY0.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _search_page(user: str) -> str:
    """The call list as ``user`` sees it (each call with its start time)."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token(user)
    at.run()
    at.switch_page("views/search.py").run()
    assert not at.exception, at.exception
    return "\n".join(str(m.value) for m in at.markdown).replace("\\", "")


def _zone_of(name: str) -> str | None:
    with session() as s:
        return s.exec(select(User).where(User.name == name)).one().timezone


def _save(at: AppTest) -> None:
    [save] = [b for b in at.button if b.label == t("save")]
    save.click().run()


@pytest.mark.app
def test_a_user_sets_their_time_zone_on_the_profile_page(world: review_world.World) -> None:
    """sup picks America/New_York on Profile: sup's call list shows New York times from then on,
    insp1's still shows the site's Asia/Shanghai; choosing the site's zone again goes back."""
    assert _shown("Asia/Shanghai") in _search_page("sup")
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("sup")
    at.run()
    at.switch_page("views/profile.py").run()
    at.selectbox(key="profile_zone").set_value("America/New_York")
    _save(at)
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert _zone_of("sup") == "America/New_York"
    assert any("America/New_York" in str(c.value).replace("\\", "") for c in at.caption)

    sup_sees = _search_page("sup")
    assert _shown("America/New_York") in sup_sees and _shown("Asia/Shanghai") not in sup_sees
    assert _shown("Asia/Shanghai") in _search_page("insp1")

    at.selectbox(key="profile_zone").set_value("")
    _save(at)
    assert _zone_of("sup") is None and _shown("Asia/Shanghai") in _search_page("sup")


def test_unknown_time_zones_are_refused_and_change_nothing(world: review_world.World) -> None:
    """Names the zone database does not know, paths included, are refused in one line."""
    with session() as s:
        set_timezone(s, "sup", "Europe/Berlin")
    for bad in ("Mars/Olympus", "../../etc/passwd", "", "utc "):
        with session() as s, pytest.raises(UnknownTimeZone) as err:
            set_timezone(s, "sup", bad)
        assert str(err.value).startswith("unknown time zone: ") and "\n" not in str(err.value)
    assert _zone_of("sup") == "Europe/Berlin"


def _callqc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callqc", *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))


def test_admin_sets_a_users_time_zone_from_the_command_line(world: review_world.World) -> None:
    """`callqc user timezone NAME ZONE` sets it, `default` clears it, a bad zone is one error line."""
    r = _callqc("user", "timezone", "agent1", "Europe/Berlin")
    assert r.returncode == 0, r.stderr
    assert _zone_of("agent1") == "Europe/Berlin"
    r = _callqc("user", "timezone", "agent1", "Nowhere/Town")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "unknown time zone" in r.stderr
    assert _zone_of("agent1") == "Europe/Berlin"
    r = _callqc("user", "timezone", "agent1", "default")
    assert r.returncode == 0 and _zone_of("agent1") is None

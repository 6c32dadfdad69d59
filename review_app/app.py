"""Review app entry point: routes only (``callqc app`` serves it through review_app/server.py).

Which pages a role sees is navigation, not security: every page's domain functions check access
again (storage/access.py). The principal is resolved from the database on every run
(review_app/session.py), so a role change or a disabled account takes effect on the next click.
Pages have no icons: a Material page icon makes the browser fetch it as the favicon from a font
host on the internet, and the app must work offline.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

if __package__ in (None, ""):  # `streamlit run` executes this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from review_app.i18n import t  # noqa: E402
from review_app.safe import md  # noqa: E402
from review_app.session import (  # noqa: E402
    cookie_handoff,
    remember_deep_link,
    restore,
    session_ended_notice,
    sign_out,
    take_deep_link,
)
from storage.heap import settle_once  # noqa: E402
from storage.users import Role  # noqa: E402

HERE = Path(__file__).parent


def _page(name: str, title_key: str, *, default: bool = False) -> st.Page:
    path = HERE / "views" / f"{name}.py"
    return st.Page(path, title=t(title_key), url_path=name, default=default)


_BY_ROLE: dict[Role, list[str]] = {
    Role.inspector: ["queue", "live", "routed", "call", "search", "calibration", "redactions", "notifications",
                     "profile"],
    Role.agent: ["scorecard", "call", "search", "notifications", "profile"],
    Role.supervisor: ["dashboard", "kpis", "report", "queue", "live", "routed", "call", "search", "sampling",
                      "disputes", "calibration", "redactions", "notifications", "profile"],
    Role.archivist: ["search", "call", "archive", "notifications", "profile"],
    Role.admin: ["dashboard", "kpis", "report", "queue", "live", "routed", "call", "search", "sampling", "disputes",
                 "calibration", "redactions", "audit", "archive", "notifications", "profile"],
}
_META = {  # page -> title key
    "queue": "page_queue",
    "live": "page_live",
    "routed": "page_routed",
    "kpis": "page_kpis",
    "report": "page_report",
    "notifications": "page_notifications",
    "profile": "page_profile",
    "call": "page_call",
    "search": "page_search",
    "scorecard": "page_scorecard",
    "sampling": "page_sampling",
    "disputes": "page_disputes",
    "calibration": "page_calibration",
    "dashboard": "page_dashboard",
    "audit": "page_audit",
    "archive": "page_archive",
    "redactions": "page_redactions",
}


st.set_page_config(page_title="callqc", page_icon="🎧", layout="wide")  # an emoji icon is drawn locally
who = restore()
if who is None:
    if session_ended_notice():
        st.warning(t("session_ended"))
    # every page's address leads to the sign-in form (not to "page not found"), which then knows
    # where the address wanted to go and opens it after sign-in
    sign_in_at = [_page("sign_in", "page_sign_in", default=True)]
    sign_in_at += [st.Page(HERE / "views" / "sign_in.py", title=t("page_sign_in"), url_path=n) for n in _META]
    nav = st.navigation(sign_in_at, position="hidden")
    remember_deep_link(nav.url_path if nav.url_path in _META else None, st.query_params.to_dict())
    nav.run()
    st.stop()

names = _BY_ROLE[Role(who.role)]
by_name = {n: _page(n, _META[n], default=(i == 0)) for i, n in enumerate(names)}
with st.sidebar:
    st.caption(t("signed_in_as", name=md(who.name), role=t(f"role_{who.role}")))
    if st.button(t("sign_out"), key="sign_out"):
        sign_out()
        st.rerun()
    cookie_handoff()
nav = st.navigation(list(by_name.values()))
wanted = take_deep_link()
if wanted:
    target = wanted.get("page") or ("call" if "call" in wanted.get("query", {}) else None)
    if target in by_name:
        st.switch_page(by_name[target], query_params=wanted.get("query") or None)
nav.run()
# the first page run imported what pages need: keep it out of the collector's walks (storage/heap.py)
settle_once()

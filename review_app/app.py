"""Review app entry point: routes only (``streamlit run review_app/app.py``; ``callqc app``).

Which pages a role sees is navigation, not security: every page's domain functions check access
again (storage/access.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

if __package__ in (None, ""):  # `streamlit run` executes this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from review_app.i18n import t  # noqa: E402
from review_app.session import current, sign_out  # noqa: E402
from storage.users import Role  # noqa: E402

HERE = Path(__file__).parent


def _page(name: str, title_key: str, icon: str, *, default: bool = False) -> st.Page:
    path = HERE / "pages" / f"{name}.py"
    return st.Page(path, title=t(title_key), icon=icon, url_path=name, default=default)


_BY_ROLE: dict[Role, list[str]] = {
    Role.inspector: ["queue", "live", "call", "search", "calibration"],
    Role.agent: ["scorecard", "call", "search"],
    Role.supervisor: ["dashboard", "queue", "live", "call", "search", "sampling", "disputes", "calibration"],
    Role.archivist: ["search", "call", "archive"],
    Role.admin: [
        "dashboard", "queue", "live", "call", "search", "sampling", "disputes", "calibration", "audit", "archive"
    ],
}
_META = {
    "queue": ("page_queue", ":material/inbox:"),
    "live": ("page_live", ":material/hearing:"),
    "call": ("page_call", ":material/call:"),
    "search": ("page_search", ":material/search:"),
    "scorecard": ("page_scorecard", ":material/grading:"),
    "sampling": ("page_sampling", ":material/shuffle:"),
    "disputes": ("page_disputes", ":material/gavel:"),
    "calibration": ("page_calibration", ":material/tune:"),
    "dashboard": ("page_dashboard", ":material/monitoring:"),
    "audit": ("page_audit", ":material/policy:"),
    "archive": ("page_archive", ":material/inventory_2:"),
}

st.set_page_config(page_title="callqc", layout="wide")
who = current()
if who is None:
    pages = [_page("sign_in", "page_sign_in", ":material/login:", default=True)]
else:
    names = _BY_ROLE[Role(who.role)]
    pages = [_page(n, *_META[n], default=(i == 0)) for i, n in enumerate(names)]
    with st.sidebar:
        st.caption(t("signed_in_as", name=who.name, role=t(f"role_{who.role}")))
        if st.button(t("sign_out"), key="sign_out"):
            sign_out()
            st.rerun()
st.navigation(pages).run()

"""Who is told what, and the preferences page's rules.

Each function runs inside the transaction of its event and only queues rows in the outbox
(storage/notifications.py); callqc/notifier.py sends them. Messages carry IDs, states and a link
into the review app, never transcript text or audio.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.access import Perm, require
from storage.calls import Call
from storage.errors import InvalidInput
from storage.notifications import (
    Notification,
    NotifyKind,
    NotifyPref,
    notify,
    outbox,
    prefs_of,
    set_pref,
    users_with_role,
)
from storage.reviews import Dispute, Review
from storage.settings import get_settings
from storage.users import Principal, Role


def _link(page: str) -> str:
    return f"{get_settings().app_url.rstrip('/')}/{page}"


def new_assignments(session: Session, run_id: int, counts: dict[str, int]) -> None:
    # one look-up of who wants to hear at all, not one per inspector: most plans' inspectors have no
    # preference switched on, and a sampling run should not pay a query each for them
    wanted = set(session.exec(select(NotifyPref.user_name).where(
        col(NotifyPref.user_name).in_(list(counts)), NotifyPref.kind == NotifyKind.assignment,
        col(NotifyPref.enabled).is_(True))))
    for inspector, n in counts.items():
        if inspector not in wanted:
            continue
        notify(session, [inspector], NotifyKind.assignment, subject=f"callqc: {n} new call(s) to review",
               payload={"count": n, "sampling_run": run_id, "link": _link("queue")}, event=f"run{run_id}")


def new_feedback(session: Session, call: Call, review: Review) -> None:
    if not call.agent_id:
        return
    agents = users_with_role(session, (Role.agent,), tenant=call.tenant, agent_id=call.agent_id)
    notify(session, agents, NotifyKind.feedback, subject="callqc: a review of your call is ready",
           payload={"review_id": review.id, "call_id": call.call_id, "verdict": str(review.verdict),
                    "score": review.score, "link": _link("scorecard")}, event=f"review{review.id}")


def new_dispute(session: Session, call: Call, dispute: Dispute) -> None:
    sups = users_with_role(session, (Role.supervisor,), tenant=call.tenant, team=call.team)
    notify(session, sups, NotifyKind.dispute, subject="callqc: an agent disputes a review",
           payload={"dispute_id": dispute.id, "review_id": dispute.review_id, "call_id": call.call_id,
                    "link": _link("disputes")}, event=f"dispute{dispute.id}")


def my_prefs(session: Session, who: Principal) -> list[NotifyPref]:
    return prefs_of(session, who.name)


_KINDS_BY_ROLE = {
    Role.inspector: {NotifyKind.assignment},
    Role.agent: {NotifyKind.feedback},
    Role.supervisor: {NotifyKind.assignment, NotifyKind.dispute},
    Role.archivist: {NotifyKind.archive_failure},
    Role.admin: set(NotifyKind),
}


def kinds_for(who: Principal) -> list[NotifyKind]:
    return sorted(_KINDS_BY_ROLE[Role(who.role)])


def set_my_pref(session: Session, who: Principal, kind: str, channel: str, address: str, *,
                enabled: bool = True) -> NotifyPref:
    """A user sets their own preference, for the kinds their role receives."""
    if kind not in kinds_for(who):
        raise InvalidInput(f"{who.role} accounts do not receive {kind!r} notifications")
    return set_pref(session, who.name, kind, channel, address, enabled=enabled)


def outbox_for_admin(session: Session, who: Principal, *, state: str | None = None) -> list[Notification]:
    require(who, Perm.audit)
    return outbox(session, state=state)

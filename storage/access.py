"""Who may see and do what: the access rules every page-facing domain function applies.

Rules live here, not in the pages, so a hand-made URL or a call-ID search cannot get around them:
an agent sees only calls of their tenant whose ``agent_id`` is theirs (and evaluations and
recordings of those calls: agent IDs are unique only within a tenant); inspectors, supervisors and
archivists see the calls of their tenant, and of their teams when their account names some (a
supervisor over several teams: ``team`` plus ``also_teams``); admins see every call; download,
audit and user administration are narrower.
An agent asking for a call that is not theirs gets the same Forbidden as for a call that does not
exist, so call IDs cannot be probed.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage import audit
from storage.archive.tables import ArchiveImagePublic
from storage.archive.verify import failed_images
from storage.calls import Call
from storage.db import session
from storage.errors import Forbidden, NotFound
from storage.keys import validate_call_id
from storage.models import AuditAction, AuditEvent
from storage.redactions import with_originals
from storage.retrieval import AudioVariant, Recording, open_recording
from storage.settings import get_settings
from storage.transcripts import transcript_json
from storage.users import Principal, Role

log = logging.getLogger(__name__)


class Perm(StrEnum):
    view_all_calls = "view_all_calls"
    review = "review"  # score calls, override auto answers
    route = "route"  # manage routing rules
    sample = "sample"  # sampling plans and runs
    calibrate = "calibrate"  # set up calibration sessions
    resolve_disputes = "resolve_disputes"
    dashboard = "dashboard"
    download = "download"
    audit = "audit"
    users = "users"
    own_feedback = "own_feedback"  # acknowledge / dispute own evaluations
    archive_health = "archive_health"  # see archive images whose fixity check failed
    pii = "pii"  # original (unredacted) text and audio, audited; given by the `pii_roles` setting


_ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.agent: frozenset({Perm.own_feedback}),
    Role.inspector: frozenset({Perm.view_all_calls, Perm.review}),
    Role.supervisor: frozenset(
        {Perm.view_all_calls, Perm.review, Perm.sample, Perm.calibrate, Perm.resolve_disputes, Perm.dashboard,
         Perm.route}
    ),
    Role.archivist: frozenset({Perm.view_all_calls, Perm.download, Perm.archive_health}),
    Role.admin: frozenset(Perm) - {Perm.pii},
}


class CallNotVisible(Forbidden):
    """call not visible to you"""


class NotPermitted(Forbidden):
    """your role does not allow this"""


def can(who: Principal, perm: Perm) -> bool:
    if perm == Perm.pii:
        return str(who.role) in get_settings().pii_roles
    return perm in _ROLE_PERMS.get(Role(who.role), frozenset())


def require(who: Principal, perm: Perm) -> None:
    if not can(who, perm):
        raise NotPermitted(f"{who.name} ({who.role}) may not {perm.value.replace('_', ' ')}")


def calls_clause(who: Principal) -> Any:
    """A WHERE clause on ``calls`` limiting rows to what ``who`` may see."""
    if who.role == Role.admin:
        return sa.true()
    in_tenant = col(Call.tenant) == who.tenant
    if can(who, Perm.view_all_calls):
        teams = who.teams
        return in_tenant if teams is None else sa.and_(in_tenant, col(Call.team).in_(teams))
    if who.role == Role.agent and who.agent_id:
        return sa.and_(in_tenant, col(Call.agent_id) == who.agent_id)
    return sa.false()


def may_see(who: Principal, call: Call) -> bool:
    """``calls_clause`` for one loaded row."""
    if who.role == Role.admin:
        return True
    if call.tenant != who.tenant:
        return False
    if can(who, Perm.view_all_calls):
        return who.sees_team(call.team)
    return who.role == Role.agent and bool(who.agent_id) and call.agent_id == who.agent_id


def team_clause(who: Principal, tenant_col: Any, team_col: Any) -> Any:
    """The same scope on another table's tenant and team columns (routing queue, sampling plans)."""
    if who.role == Role.admin:
        return sa.true()
    teams = who.teams
    if teams is None:
        return tenant_col == who.tenant
    return sa.and_(tenant_col == who.tenant, team_col.in_(teams))


def visible_call(session: Session, who: Principal, call_id: str) -> Call:
    """The call row if ``who`` may see it; CallNotVisible (agents) or NotFound otherwise."""
    cid = validate_call_id(call_id)
    call = session.get(Call, cid)
    if call is not None and may_see(who, call):
        return call
    if call is None and who.role == Role.admin:
        raise NotFound(f"call {cid}")
    # another tenant's or team's call looks exactly like a call that does not exist
    log.info("access: %s denied call %s", who.name, cid)
    raise CallNotVisible(cid)


def search_calls(session: Session, who: Principal, text: str = "", *, limit: int = 50, offset: int = 0) -> list[Call]:
    """Calls ``who`` may see whose ID starts with ``text``, newest first, one page at a time."""
    q = select(Call).where(calls_clause(who))
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q = q.where(col(Call.call_id).like(f"{escaped}%", escape="\\"))
    q = q.order_by(col(Call.started_at).desc()).limit(min(limit, 500)).offset(offset)
    return list(session.exec(q))


def audit_events(
    session: Session,
    who: Principal,
    *,
    actor: str | None = None,
    action: str | None = None,
    call_id: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[AuditEvent]:
    """The audit log, newest first, filtered; admins only."""
    require(who, Perm.audit)
    q = select(AuditEvent)
    if actor:
        q = q.where(AuditEvent.actor == actor)
    if action:
        q = q.where(AuditEvent.action == action)
    if call_id:
        q = q.where(AuditEvent.call_id == validate_call_id(call_id))
    q = q.order_by(col(AuditEvent.id).desc()).limit(min(limit, 1000)).offset(offset)
    return list(session.exec(q))


def failed_archive_images(session: Session, who: Principal) -> list[ArchiveImagePublic]:
    """Archive images whose last fixity check failed, newest check first; admins and archivists."""

    require(who, Perm.archive_health)
    return failed_images(session)


def listen_action(download: bool) -> AuditAction:
    return AuditAction.download if download else AuditAction.play


def audio_variant(who: Principal) -> AudioVariant:
    """The audio ``who`` gets: the original with ``pii``, else the redacted copy."""
    return AudioVariant.original if can(who, Perm.pii) else AudioVariant.redacted


def recording(who: Principal, call_id: str, *, source: str | None, download: bool = False) -> Recording:
    """A call's audio for the player (or a download), through the one retrieval path: the original
    for people with ``pii``, the redacted copy for everyone else.

    The access check comes first; the retrieval path (hot or archived) checks the SHA-256 and
    writes the audit row, play or download, naming which audio was given.
    """

    if download:
        require(who, Perm.download)
    with session() as s:
        cid = visible_call(s, who, call_id).call_id
    return open_recording(cid, actor=who.name, source=source, action=listen_action(download),
                          variant=audio_variant(who))


def transcript(who: Principal, call_id: str, *, source: str | None, original: bool = False) -> dict[str, Any] | None:
    """The call's transcript (transcript_json's shape) as ``who`` may read it: the redacted text; with
    ``original=True`` the original text of each redacted segment, which needs ``pii`` and is audited."""
    with session() as s:
        cid = visible_call(s, who, call_id).call_id
        doc = transcript_json(s, cid)
        if not original or doc is None:
            return doc
        require(who, Perm.pii)
        n = with_originals(s, doc)
    with session(write=True) as s:
        audit.record(s, who.name, AuditAction.view_original, call_id=cid, source=source,
                     detail={"segments": n})
    return doc

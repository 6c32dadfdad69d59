"""Review-app users: local accounts with argon2-hashed passwords and one role each.

The embedded default signs people in against this table; an agent account names the ``agent_id`` its
calls carry, which is what the access rules (storage/access.py) compare against.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Column, Field, Session, SQLModel, select

from storage.errors import Conflict, Forbidden, InvalidInput, NotFound
from storage.models import UTCDateTime, utcnow

log = logging.getLogger(__name__)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 8
_hasher = PasswordHasher()
DEFAULT_TENANT = "default"  # the tenant of calls and users that name none (calls.tenant's default)


class Role(StrEnum):
    inspector = "inspector"
    agent = "agent"
    supervisor = "supervisor"
    archivist = "archivist"
    admin = "admin"


class BadCredentials(Forbidden):
    """wrong user name or password"""


class UserNotFound(NotFound):
    """no such user"""


class UserExists(Conflict):
    """user already exists"""


class UserBase(SQLModel):
    name: str = Field(max_length=64, sa_column_kwargs={"unique": True}, index=True)
    role: Role = Field(sa_type=sa.String(16), index=True)
    agent_id: str | None = Field(default=None, max_length=64, index=True)
    # the team a user belongs to; for inspectors and supervisors also the team they see (None: all
    # teams of their tenant). Teams belong to a tenant; an agent ID is unique only within one.
    team: str | None = Field(default=None, max_length=64)
    # further teams of the same tenant an inspector or supervisor sees, besides ``team`` (a
    # supervisor over several teams); ignored while ``team`` is None (they see every team already)
    also_teams: list[str] = Field(default_factory=list, sa_column=Column(sa.JSON, nullable=False))
    tenant: str = Field(default=DEFAULT_TENANT, max_length=64, index=True)
    active: bool = True
    # IANA name the review app shows this user's times in; None: the app's `timezone` setting
    timezone: str | None = Field(default=None, max_length=64)


class User(UserBase, table=True):
    __tablename__ = "users"
    __table_args__ = (sa.UniqueConstraint("tenant", "agent_id", name="uq_users_tenant_agent"),)

    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=256)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class UserPublic(UserBase):
    id: int


@dataclass(frozen=True)
class Principal:
    """Who is asking: what every access-checked domain function receives."""

    name: str
    role: Role
    agent_id: str | None = None
    team: str | None = None
    tenant: str = DEFAULT_TENANT
    timezone: str | None = None  # the user's own; None: the app's setting
    also_teams: tuple[str, ...] = ()  # further teams seen besides ``team``

    @classmethod
    def of(cls, user: UserBase) -> Principal:
        return cls(name=user.name, role=Role(user.role), agent_id=user.agent_id, team=user.team,
                   tenant=user.tenant, timezone=user.timezone, also_teams=tuple(user.also_teams or ()))

    @property
    def teams(self) -> tuple[str, ...] | None:
        """The teams this principal sees within their tenant; None: all of them."""
        return None if self.team is None else (self.team, *(t for t in self.also_teams if t != self.team))

    def sees_team(self, team: str | None) -> bool:
        """Whether a row of ``team`` (within the principal's tenant) is in this principal's teams."""
        return self.teams is None or team in self.teams


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(f"user name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-'")
    return name


def add_user(
    session: Session,
    name: str,
    *,
    role: Role | str,
    password: str,
    agent_id: str | None = None,
    team: str | None = None,
    tenant: str = DEFAULT_TENANT,
) -> UserPublic:
    """Create an active user (the caller commits); an agent ID may be used once per tenant."""
    validate_name(name)
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(f"role {role!r}: use one of {', '.join(r.value for r in Role)}") from None
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters")
    if role is Role.agent and not agent_id:
        raise InvalidInput("an agent account needs --agent-id (the agent ID its calls carry)")
    if session.exec(select(User).where(User.name == name)).first() is not None:
        raise UserExists(name)
    if agent_id and session.exec(select(User).where(User.tenant == tenant, User.agent_id == agent_id)).first():
        raise UserExists(f"agent ID {agent_id} already has an account in tenant {tenant}")
    user = User(name=name, role=role, agent_id=agent_id, team=team, tenant=tenant,
                password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    log.info("add user: %s role=%s agent=%s", name, role, agent_id)
    return UserPublic.model_validate(user)


def list_users(session: Session, *, role: Role | None = None, tenant: str | None = None) -> list[UserPublic]:
    q = select(User).order_by(User.name)
    if role is not None:
        q = q.where(User.role == role)
    if tenant is not None:
        q = q.where(User.tenant == tenant)
    return [UserPublic.model_validate(u) for u in session.exec(q)]


_dummy: dict[int, str] = {}


def _dummy_hash() -> str:
    """A hash made with the current hasher's cost, to verify against when the user does not exist."""
    key = id(_hasher)
    if key not in _dummy:
        _dummy[key] = _hasher.hash("not a password of anyone")
    return _dummy[key]


def authenticate(session: Session, name: str, password: str) -> Principal:
    """The principal for a correct name and password of an active user, else BadCredentials.

    An unknown or disabled user costs one argon2 verification like a wrong password does, so the
    answer's timing does not tell which names exist.
    """
    user = session.exec(select(User).where(User.name == name)).first()
    try:
        _hasher.verify(user.password_hash if user is not None else _dummy_hash(), password)
        ok = user is not None and user.active
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        raise BadCredentials(name)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        session.add(user)
    return Principal.of(user)


def principal_for_identity(session: Session, name: str) -> Principal:
    """The principal of an active user named by an identity provider (OIDC e-mail); BadCredentials if none.

    The provider proves who it is; the role and agent ID still come from the local account.
    """
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None or not user.active:
        raise BadCredentials(f"{name} has no active local account")
    return Principal.of(user)


class UnknownTimeZone(InvalidInput):
    """unknown time zone"""


def validate_timezone(zone: str) -> str:
    """An IANA time zone name the system knows (e.g. ``Europe/Berlin``), else UnknownTimeZone."""
    from zoneinfo import available_timezones

    if not isinstance(zone, str) or zone not in available_timezones():
        raise UnknownTimeZone(f"{zone!r}: use an IANA name such as UTC, Asia/Shanghai or Europe/Berlin")
    return zone


def set_timezone(session: Session, name: str, zone: str | None) -> None:
    """Set the time zone ``name`` sees times in; None goes back to the app's setting (caller commits)."""
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise UserNotFound(name)
    user.timezone = None if zone is None else validate_timezone(zone)
    session.add(user)
    log.info("user %s: time zone %s", name, user.timezone or "(app setting)")


def set_teams(session: Session, name: str, teams: list[str]) -> UserPublic:
    """Set the teams ``name`` sees: the first is their own team, the rest further teams of the same
    tenant (a supervisor over several teams); an empty list: every team of the tenant."""
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise UserNotFound(name)
    for team in teams:
        if not isinstance(team, str) or not _NAME.fullmatch(team):
            raise InvalidInput(f"team {team!r}: 1-64 letters, digits, '.', '_', '@' or '-'")
    if len(set(teams)) != len(teams):
        raise InvalidInput("a team is named twice")
    if user.role == Role.agent and len(teams) != 1:
        raise InvalidInput("an agent belongs to exactly one team")
    user.team, user.also_teams = (teams[0], teams[1:]) if teams else (None, [])
    session.add(user)
    session.flush()
    log.info("user %s: teams %s", name, ",".join(teams) or f"(all of tenant {user.tenant})")
    return UserPublic.model_validate(user)


def set_active(session: Session, name: str, active: bool) -> None:
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise UserNotFound(name)
    user.active = active
    session.add(user)

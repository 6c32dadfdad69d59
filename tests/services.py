"""How tests reach real services and system tools: skip with a reason when absent, fail under
CALLQC_REQUIRE_SERVICES=1 (CI, which installs everything).

A test that needs a system command says so once, either by calling :func:`require_tool` from the
helper that runs the command (tests/audio_files.py, tests/archive_helpers.py, tests/s3server.py) or
with the ``tools`` marker (``@pytest.mark.tools("espeak-ng", "sox")``) that conftest.py checks
before the test starts. The skip names the command, its Debian package and ``make deps``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from typing import NoReturn

import pytest

from storage.settings import Settings

# Each system command a test runs, and the Debian package that installs it (`make deps` installs
# them all; so does CI's .ci/run).
TOOLS: dict[str, str] = {
    "espeak-ng": "espeak-ng",
    "sox": "sox",
    "ffmpeg": "ffmpeg",
    "xorriso": "xorriso",
    "chromium": "chromium",
    "ceph": "ceph-common",
    "ceph-authtool": "ceph-common",
    "radosgw-admin": "ceph-common",
    "monmaptool": "ceph-base",
    "ceph-mon": "ceph-mon",
    "ceph-osd": "ceph-osd",
    "radosgw": "radosgw",
    "sipp": "sip-tester",
    "baresip": "baresip",
    "openssl": "openssl",
    "pg_dump": "postgresql-client",
    "pg_restore": "postgresql-client",
    "mariadbd": "mariadb-server",
    "mariadb-install-db": "mariadb-server",
}
DEPS_HINT = "`make deps` installs the system tools"


def services_required() -> bool:
    return Settings().require_services


def missing_service(reason: str) -> None:
    """Skip (or, when services are required, fail) because a service is missing."""
    if services_required():
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(f"service unavailable: {reason}")


def missing_tools(names: Iterable[str]) -> list[str]:
    """The commands of ``names`` not found on PATH, in order."""
    return [name for name in names if shutil.which(name) is None]


def tools_reason(missing: list[str]) -> str:
    """One line naming the absent commands, the Debian packages that bring them, and `make deps`."""
    packages = list(dict.fromkeys(TOOLS[name] for name in missing))
    noun = "package" if len(packages) == 1 else "packages"
    return f"{', '.join(missing)} not installed: Debian {noun} {' '.join(packages)}; {DEPS_HINT}"


def require_tool(*names: str) -> str:
    """The path of the first of ``names`` once all are on PATH; otherwise skip the calling test
    (or fail it when services are required) with :func:`tools_reason`."""
    unknown = [name for name in names if name not in TOOLS]
    assert not unknown, f"add {unknown} with their Debian package to tests/services.py TOOLS"
    if missing := missing_tools(names):
        _absent(tools_reason(missing))
    path = shutil.which(names[0])
    assert path is not None
    return path


def _absent(reason: str) -> NoReturn:
    if services_required():
        pytest.fail(f"required tool missing: {reason}", pytrace=False)
    pytest.skip(reason)


def missing_tools_header() -> str | None:
    """The line `make test` prints first when some system tools are absent."""
    if missing := missing_tools(TOOLS):
        return f"system tools missing, their tests skip: {tools_reason(missing)}"
    return None

"""A throwaway single-node Ceph cluster (mon + memstore OSD + radosgw) on 127.0.0.1: a real S3 server.

    python deploy/dev/ceph_rgw.py start DIR    # prints the env file to source: DIR/env
    python deploy/dev/ceph_rgw.py stop DIR     # SIGKILL by pid, wipe DIR (--keep keeps the logs)

Needs the Debian packages ``radosgw ceph-mon ceph-osd ceph-common``. Only the standard library is used,
so the system ``python3`` runs it too; tests import it by path (tests/s3server.py). Objects live in the
OSD's RAM (memstore): everything is gone once the cluster stops.

Several instances run side by side (pytest-xdist workers, CI jobs): each takes free mon and S3 ports
from the kernel and claims its own window of messenger ports, below the kernel's ephemeral range.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("ceph_rgw")

BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "ceph-authtool", "monmaptool")
APT_PACKAGES = "radosgw ceph-mon ceph-osd ceph-common"
DAEMONS = ("ceph-mon", "ceph-osd", "radosgw")
# Messenger windows live below the ephemeral range (32768+) the mon/S3 ports come from.
WINDOW_SIZE = 100
WINDOW_FIRST, WINDOW_LAST = 100, 320  # ports 10000-32099
CLAIMS = Path(tempfile.gettempdir()) / "callqc-ceph-ports"


class CephError(RuntimeError):
    """The throwaway Ceph cluster failed to start or stop."""


@dataclass(frozen=True)
class RgwServer:
    folder: Path
    endpoint: str  # host:port, as the minio client wants it
    access_key: str
    secret_key: str
    ceph_conf: Path

    def env(self) -> dict[str, str]:
        """Both the plain S3_* names and callqc's own settings, so `. DIR/env` is enough to run callqc."""
        return {
            "CEPH_CONF": str(self.ceph_conf),
            "S3_ENDPOINT": self.endpoint,
            "S3_ACCESS_KEY": self.access_key,
            "S3_SECRET_KEY": self.secret_key,
            "CALLQC_STORE": "s3",
            "CALLQC_S3_ENDPOINT": self.endpoint,
            "CALLQC_S3_ACCESS_KEY": self.access_key,
            "CALLQC_S3_SECRET_KEY": self.secret_key,
            "CALLQC_S3_SECURE": "false",
        }


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


# --- start --------------------------------------------------------------------------------------
def start(folder: Path, *, memstore_bytes: int = 2 * 1024**3, owner_pid: int | None = None,
          timeout_s: float = 60.0) -> RgwServer:
    """Start a cluster in ``folder`` (wiped first) and create an S3 user; stop it again on failure.

    With ``owner_pid``, a watchdog stops the cluster once that process is gone, so a killed test run
    leaves no daemons behind.
    """
    folder = Path(folder).resolve()
    if live_daemons(folder):
        raise CephError(f"{folder} holds a running cluster; stop it first")
    if missing := missing_binaries():
        raise CephError(f"missing {', '.join(missing)}; apt-get install {APT_PACKAGES}")
    shutil.rmtree(folder, ignore_errors=True)
    for sub in ("run", "log", "mon/ceph-a", "osd/ceph-0", "rgw", "crash"):
        (folder / sub).mkdir(parents=True)
    t0 = time.monotonic()
    try:
        window = _claim_window(folder)
        server = _boot(folder, window=window, memstore_bytes=memstore_bytes, timeout_s=timeout_s)
    except BaseException:
        stop(folder, keep=True)
        raise
    if owner_pid is not None:
        _spawn_watchdog(folder, owner_pid)
    log.info("ceph rgw ready at http://%s in %.1f s", server.endpoint, time.monotonic() - t0)
    return server


def _boot(folder: Path, *, window: int, memstore_bytes: int, timeout_s: float) -> RgwServer:
    mon_port, rgw_port = _free_port(), _free_port()
    fsid = str(uuid.uuid4())
    conf = folder / "ceph.conf"
    conf.write_text(_config(folder, fsid=fsid, mon_port=mon_port, rgw_port=rgw_port,
                            window=window, memstore_bytes=memstore_bytes))
    env = {**os.environ, "CEPH_CONF": str(conf)}
    keyring = str(folder / "keyring")

    def run(*cmd: str) -> str:
        return _run(cmd, env=env, folder=folder)

    run("ceph-authtool", "--create-keyring", keyring, "--gen-key", "-n", "mon.", "--cap", "mon", "allow *")
    run("ceph-authtool", keyring, "--gen-key", "-n", "client.admin",
        "--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mgr", "allow *")
    monmap = str(folder / "monmap")
    run("monmaptool", "--create", "--clobber", "--fsid", fsid, "--addv", "a",
        f"[v2:127.0.0.1:{mon_port}]", monmap)
    run("ceph-mon", "-i", "a", "--mkfs", "--monmap", monmap, "--keyring", keyring)
    run("ceph-mon", "-i", "a")

    osd_uuid = str(uuid.uuid4())
    osd_id = run("ceph", "osd", "new", osd_uuid).strip()
    run("ceph-osd", "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
    run("ceph-osd", "-i", osd_id)
    deadline = time.monotonic() + timeout_s
    # radosgw creates its pools at start; with the OSD not yet up it would stall on them
    while not _osd_up(run("ceph", "osd", "dump", "--format", "json"), int(osd_id)):
        if time.monotonic() > deadline:
            raise CephError(f"osd.{osd_id} not up after {timeout_s:.0f} s; see {folder}/log")
        time.sleep(0.1)

    run("radosgw", "-n", "client.rgw.a")
    while not _answers(f"http://127.0.0.1:{rgw_port}/"):
        if time.monotonic() > deadline:
            raise CephError(f"radosgw not answering after {timeout_s:.0f} s; see {folder}/log/rgw.log")
        time.sleep(0.1)

    server = RgwServer(folder, f"127.0.0.1:{rgw_port}", "callqc" + secrets.token_hex(6),
                       secrets.token_urlsafe(24), conf)
    run("radosgw-admin", "-n", "client.admin", "user", "create", "--uid=callqc", "--display-name=callqc",
        f"--access-key={server.access_key}", f"--secret-key={server.secret_key}")
    _write_env(folder, server)
    return server


def _config(folder: Path, *, fsid: str, mon_port: int, rgw_port: int, window: int,
            memstore_bytes: int) -> str:
    d = folder
    return f"""\
[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{mon_port}
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.1/32
ms bind ipv6 = false
ms bind msgr1 = false
ms bind port min = {window * WINDOW_SIZE}
ms bind port max = {window * WINDOW_SIZE + WINDOW_SIZE - 1}
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
keyring = {d}/keyring
run dir = {d}/run
admin socket = {d}/run/$name.asok
pid file = {d}/run/$name.pid
log file = {d}/log/$name.log
mon cluster log file = {d}/log/cluster.log
crash dir = {d}/crash
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
# each osdmap change waits one paxos round; the default 1 s rounds make start-up take ~13 s
paxos propose interval = 0.01
paxos min wait = 0.001

[mon]
mon data = {d}/mon/$cluster-$id

[osd]
osd data = {d}/osd/$cluster-$id
osd objectstore = memstore
memstore device bytes = {memstore_bytes}

[client.rgw.a]
# radosgw defaults to ms_mon_client_mode=secure + cephx, impossible with auth=none: it would hang
ms mon client mode = crc
auth client required = none
# without tcp_nodelay every small request waits ~44 ms for a delayed ACK
rgw frontends = beast endpoint=127.0.0.1:{rgw_port} tcp_nodelay=1
rgw data = {d}/rgw
rgw dns name =
rgw enable usage log = false
rgw thread pool size = 64
"""


def _run(cmd: tuple[str, ...], *, env: dict[str, str], folder: Path) -> str:
    try:
        done = subprocess.run(cmd, env=env, cwd=folder, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise CephError(f"{cmd[0]} timed out; see {folder}/log") from None
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise CephError(f"{' '.join(cmd[:3])} failed ({done.returncode}): {tail}; see {folder}/log")
    return done.stdout


def _osd_up(dump: str, osd_id: int) -> bool:
    return any(o.get("osd") == osd_id and o.get("up") == 1 for o in json.loads(dump).get("osds", []))


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # an S3 error document is an answer
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _claim_window(folder: Path) -> int:
    """Claim a messenger port window no other live instance holds (a file per window, O_EXCL)."""
    CLAIMS.mkdir(exist_ok=True)
    windows = list(range(WINDOW_FIRST, WINDOW_LAST))
    random.shuffle(windows)
    for n in windows:
        claim = CLAIMS / str(n)
        with contextlib.suppress(FileNotFoundError):
            owner = Path(claim.read_text())
            if owner != folder and live_daemons(owner):
                continue
            claim.unlink()  # stale: its cluster is gone
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue  # another instance won the race for this one
        with os.fdopen(fd, "w") as fh:
            fh.write(str(folder))
        (folder / "window").write_text(str(n))
        return n
    raise CephError("no free messenger port window")


def _write_env(folder: Path, server: RgwServer) -> None:
    lines = [f"export {k}={v}" for k, v in server.env().items()]
    tmp = folder / "env.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(folder / "env")  # readers never see half a file


def read_env(folder: Path) -> RgwServer:
    """The server a previous ``start`` left in ``folder``."""
    folder = Path(folder).resolve()
    values = {}
    for line in (folder / "env").read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        values[key] = value
    return RgwServer(folder, values["S3_ENDPOINT"], values["S3_ACCESS_KEY"], values["S3_SECRET_KEY"],
                     Path(values["CEPH_CONF"]))


# --- stop ---------------------------------------------------------------------------------------
def live_daemons(folder: Path) -> list[int]:
    """PIDs from ``folder``'s pid files that are running Ceph daemons (checked, so a reused PID is safe)."""
    pids = []
    for pid_file in sorted((Path(folder) / "run").glob("*.pid")):
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            if os.path.basename(cmd.decode()) in DAEMONS and _alive(pid):
                pids.append(pid)
    return pids


def _alive(pid: int) -> bool:
    # a killed daemon stays a zombie until init reaps it; kill -0 would still say "alive"
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def stop(folder: Path, *, keep: bool = False, timeout_s: float = 10.0) -> list[int]:
    """SIGKILL the cluster's daemons (the data is throwaway) and wait until they are gone."""
    folder = Path(folder).resolve()
    _kill_watchdog(folder)
    pids = live_daemons(folder)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            raise CephError(f"daemons {pids} still alive {timeout_s:.0f} s after SIGKILL")
        time.sleep(0.05)
    with contextlib.suppress(OSError, ValueError):
        claim = CLAIMS / (folder / "window").read_text().strip()
        if Path(claim.read_text()) == folder:
            claim.unlink()
    if keep:
        for pid_file in (folder / "run").glob("*.pid"):
            pid_file.unlink()
    else:
        shutil.rmtree(folder, ignore_errors=True)
    log.info("ceph rgw in %s stopped (pids %s)", folder, pids)
    return pids


# --- watchdog -----------------------------------------------------------------------------------
def _spawn_watchdog(folder: Path, owner_pid: int) -> None:
    # the child forks once more and exits at once, so the caller has no child process to reap
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "_watch", str(folder), str(owner_pid)],
                   check=True, timeout=30, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def _watch(folder: Path, owner_pid: int) -> None:
    if os.fork():
        return
    os.setsid()
    (folder / "run" / "watchdog.pid.tmp").write_text(str(os.getpid()))
    (folder / "run" / "watchdog.pid.tmp").replace(folder / "run" / "watchdog")
    while (folder / "env").exists() and _alive(owner_pid):
        time.sleep(1.0)
    if (folder / "env").exists():
        stop(folder)
    os._exit(0)


def _kill_watchdog(folder: Path) -> None:
    marker = folder / "run" / "watchdog"
    with contextlib.suppress(OSError, ValueError):
        pid = int(marker.read_text())
        if pid != os.getpid() and b"ceph_rgw.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)
    marker.unlink(missing_ok=True)


# --- command line -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="start a cluster in DIR (wiped first), write DIR/env")
    p_start.add_argument("dir", type=Path)
    p_start.add_argument("--memstore-bytes", type=int, default=2 * 1024**3, help="OSD capacity (RAM)")
    p_stop = sub.add_parser("stop", help="stop the cluster in DIR and delete DIR")
    p_stop.add_argument("dir", type=Path)
    p_stop.add_argument("--keep", action="store_true", help="keep DIR (config and logs)")
    p_watch = sub.add_parser("_watch")  # internal: see _spawn_watchdog
    p_watch.add_argument("dir", type=Path)
    p_watch.add_argument("owner", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "start":
            server = start(args.dir, memstore_bytes=args.memstore_bytes)
            sys.stdout.write(f"{server.folder / 'env'}\n")
        elif args.command == "stop":
            stop(args.dir, keep=args.keep)
        else:
            _watch(args.dir.resolve(), args.owner)
    except CephError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""deploy/Containerfile, read as a builder reads it: the image runs as its own user, owns its data
folder, and starts `callqc`. CI has no container tool and no base image to pull, so this reads the
file; docs/storage.md says how the image itself was built and run once by hand."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

CONTAINERFILE = Path(__file__).resolve().parents[1] / "deploy" / "Containerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse(text: str) -> list[Instruction]:
    """Instructions in order, continuation lines joined, comments dropped."""
    out: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    return out


def expand(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), value)


@dataclass(frozen=True)
class Image:
    """What the final stage declares, with ARG and ENV values substituted."""

    user: str
    env: dict[str, str]
    workdir: str
    volumes: list[str]
    entrypoint: list[str]
    runs_as_root: list[str]  # RUN commands, before the final USER


def image() -> Image:
    variables: dict[str, str] = {}
    env: dict[str, str] = {}
    user, workdir, volumes, entrypoint, runs = "root", "/", [], [], []
    for ins in parse(CONTAINERFILE.read_text()):
        args = expand(ins.args, variables)
        if ins.keyword in ("ARG", "ENV"):
            name, _, value = args.partition("=")
            variables[name] = value
            if ins.keyword == "ENV":
                env[name] = value
        elif ins.keyword == "USER":
            user = args
        elif ins.keyword == "WORKDIR":
            workdir = args
        elif ins.keyword == "VOLUME":
            volumes += json.loads(args) if args.startswith("[") else args.split()
        elif ins.keyword == "ENTRYPOINT":
            entrypoint = json.loads(args)
        elif ins.keyword == "RUN" and user == "root":
            runs.append(args)
    return Image(user, env, workdir, volumes, entrypoint, runs)


def _created_user(runs: list[str]) -> tuple[str, str]:
    """(name, uid) of the user the image creates with useradd."""
    for run in runs:
        for command in run.split("&&"):
            words = shlex.split(command)
            if words and words[0] == "useradd":
                return words[-1], words[words.index("--uid") + 1]
    raise AssertionError("the image creates no user")


def test_image_runs_as_the_user_it_creates_not_root() -> None:
    """The final USER is the created callqc user (by number, so runAsNonRoot can check it)."""
    built = image()
    name, uid = _created_user(built.runs_as_root)
    assert name == "callqc"
    assert uid != "0"
    assert built.user.split(":")[0] == uid


def test_data_folder_is_created_owned_by_that_user_and_is_the_volume_and_workdir() -> None:
    """CALLQC_DATA_DIR is made owned by callqc before it is declared a volume, and the process starts there."""
    built = image()
    data = built.env["CALLQC_DATA_DIR"]
    assert data.startswith("/") and data != "/"
    made = [
        shlex.split(command)
        for run in built.runs_as_root
        for command in run.split("&&")
        if shlex.split(command)[:2] == ["install", "-d"]
    ]
    owned = [words for words in made if data in words and "-o" in words]
    assert owned, f"{data} is never created"
    words = owned[0]
    assert words[words.index("-o") + 1] == "callqc"
    assert built.volumes == [data]
    assert built.workdir == data


def test_volume_comes_after_the_folder_is_made() -> None:
    """A RUN after VOLUME would not reach a named volume: the folder must be made first."""
    keywords = [ins.keyword for ins in parse(CONTAINERFILE.read_text())]
    last_run = max(i for i, k in enumerate(keywords) if k == "RUN")
    assert keywords.index("VOLUME") > last_run


def test_entrypoint_is_callqc_and_the_default_command_brings_everything_up() -> None:
    """`docker run IMAGE` runs `callqc up`; `docker run IMAGE work` runs one part."""
    built = image()
    assert built.entrypoint == ["callqc"]
    cmd = [ins.args for ins in parse(CONTAINERFILE.read_text()) if ins.keyword == "CMD"]
    assert [json.loads(c) for c in cmd] == [["up"]]

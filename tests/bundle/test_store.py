"""The bundle on disk: manifest, checks on load, old formats, replacing a directory."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.store import (
    ARRAYS_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    METADATA_FILE,
    MODEL_CARD_FILE,
    install_bundle,
    replace_directory,
    staged_directory,
)
from bankrisk.errors import BundleError
from helpers.breakages import BREAKAGES, Breakage
from helpers.factories import make_bundle, make_raw

CARD = "# test-model v7\n\nPD ≥ threshold: decline.\n"


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return make_bundle()


@pytest.fixture(scope="module")
def saved(bundle: ModelBundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle saved with its model card (read only: copy it to change it)."""
    directory = tmp_path_factory.mktemp("saved") / "bundle"
    bundle.save(directory, model_card=CARD)
    return directory


@pytest.fixture
def copy(saved: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved, tmp_path / "bundle"))


def siblings(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.parent.iterdir())


def test_manifest_lists_every_file_with_size_and_sha256(saved: Path) -> None:
    manifest = json.loads((saved / MANIFEST_FILE).read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert sorted(manifest["files"]) == sorted([METADATA_FILE, ARRAYS_FILE, MODEL_CARD_FILE])
    for name, entry in manifest["files"].items():
        data = (saved / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert (saved / MODEL_CARD_FILE).read_text(encoding="utf-8") == CARD


@pytest.mark.parametrize("name", [METADATA_FILE, ARRAYS_FILE, MODEL_CARD_FILE])
def test_a_change_to_any_file_is_refused_naming_it(copy: Path, name: str) -> None:
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, same size
    (copy / name).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum") as refused:
        ModelBundle.load(copy)
    assert str(copy / name) in str(refused.value)


def test_a_listed_file_that_is_gone_is_refused_naming_it(copy: Path) -> None:
    (copy / MODEL_CARD_FILE).unlink()
    with pytest.raises(BundleError, match="missing") as refused:
        ModelBundle.load(copy)
    assert str(copy / MODEL_CARD_FILE) in str(refused.value)


def test_a_manifest_listing_unknown_files_is_refused(copy: Path) -> None:
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["files"]["run.sh"] = {"sha256": "0" * 64, "size": 0}
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"unknown file 'run\.sh'"):
        ModelBundle.load(copy)


@pytest.mark.parametrize("breakage", BREAKAGES, ids=str)
def test_every_broken_bundle_is_a_bundle_error_naming_what(copy: Path, breakage: Breakage) -> None:
    breakage.apply(copy)
    with pytest.raises(BundleError) as refused:
        ModelBundle.load(copy)
    for fragment in breakage.expected:
        assert fragment in str(refused.value)


def test_calibration_is_named_and_in_metadata(bundle: ModelBundle, saved: Path) -> None:
    meta = json.loads((saved / METADATA_FILE).read_text())
    assert meta["calibration"] == {"method": "platt", "slope": 1.0, "intercept": 0.0}
    assert "arrays_sha256" not in meta
    loaded = ModelBundle.load(saved)
    assert (loaded.calibrator.slope, loaded.calibrator.intercept) == (1.0, 0.0)
    raw, _ = make_raw(50, seed=3)
    np.testing.assert_array_equal(loaded.predict_pd(raw), bundle.predict_pd(raw))


def test_save_replaces_the_whole_directory(bundle: ModelBundle, copy: Path) -> None:
    (copy / "stale.txt").write_text("from an older export")
    bundle.save(copy)  # no card this time
    assert sorted(p.name for p in copy.iterdir()) == [MANIFEST_FILE, METADATA_FILE, ARRAYS_FILE]
    ModelBundle.load(copy)
    assert siblings(copy) == ["bundle"]  # no staging or backup left beside it


def test_a_failed_save_leaves_the_old_bundle(bundle: ModelBundle, copy: Path) -> None:
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    unwritable = replace(bundle, metadata={"name": object()})
    with pytest.raises(TypeError, match="not JSON serialisable"):
        unwritable.save(copy)
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
    assert siblings(copy) == ["bundle"]


def test_replace_directory_swaps_in_the_new_one(tmp_path: Path) -> None:
    dest = tmp_path / "champion"
    dest.mkdir()
    (dest / "old").write_text("old")
    with staged_directory(dest) as staged:
        assert staged.parent == dest.parent and staged.name.startswith(".champion.")
        (staged / "new").write_text("new")
    assert [p.name for p in dest.iterdir()] == ["new"]
    assert siblings(dest) == ["champion"]

    other = tmp_path / "other"
    other.mkdir()
    replace_directory(other, dest)
    assert list(dest.iterdir()) == [] and siblings(dest) == ["champion"]


def test_install_bundle_copies_a_verified_bundle(saved: Path, tmp_path: Path) -> None:
    dest = tmp_path / "models" / "champion"
    install_bundle(saved, dest)
    assert ModelBundle.load(dest).version == "7"
    assert (dest / MODEL_CARD_FILE).read_text(encoding="utf-8") == CARD


def test_install_bundle_refuses_a_corrupt_source_and_keeps_dest(
    copy: Path, saved: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "models" / "champion"
    install_bundle(saved, dest)
    with (copy / ARRAYS_FILE).open("ab") as fh:
        fh.write(b"junk")
    with pytest.raises(BundleError, match="checksum"):
        install_bundle(copy, dest)
    ModelBundle.load(dest)
    assert siblings(dest) == ["champion"]

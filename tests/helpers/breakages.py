"""Ways a saved bundle can be broken, each with what its refusal must name.

Most are resealed after the change (the manifest updated to match), as a buggy or foreign
writer would leave them: the checksums pass and the content itself must be refused.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bankrisk.bundle.store import ARRAYS_FILE, MANIFEST_FILE, METADATA_FILE, seal


@dataclass(frozen=True)
class Breakage:
    name: str
    apply: Callable[[Path], None]
    expected: tuple[str, ...]  # fragments the error message must contain

    def __str__(self) -> str:
        return self.name


def read_metadata(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / METADATA_FILE).read_text())
    return data


def metadata_change(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(directory: Path) -> None:
        meta = read_metadata(directory)
        change(meta)
        (directory / METADATA_FILE).write_text(json.dumps(meta))
        seal(directory)

    return apply


def arrays_change(change: Callable[[dict[str, np.ndarray]], None]) -> Callable[[Path], None]:
    def apply(directory: Path) -> None:
        with np.load(directory / ARRAYS_FILE) as npz:
            arrays = {key: npz[key] for key in npz.files}
        change(arrays)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        (directory / ARRAYS_FILE).write_bytes(buffer.getvalue())
        seal(directory)

    return apply


_DELETE = object()  # as a value for `_set`: delete the field


def _set(path: str, value: object) -> Callable[[Path], None]:
    """Set a dotted field ("policy.threshold", "input_fields.0.train_min") and reseal."""

    def change(meta: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = meta
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return metadata_change(change)


def _append(name: str, data: bytes, reseal: bool = False) -> Callable[[Path], None]:
    def apply(directory: Path) -> None:
        with (directory / name).open("ab") as fh:
            fh.write(data)
        if reseal:
            seal(directory)

    return apply


def _add_file(directory: Path) -> None:
    (directory / "notes.txt").write_text("left behind")


def _remove_manifest(directory: Path) -> None:
    (directory / MANIFEST_FILE).unlink()


def _old_format(directory: Path) -> None:
    """The layout before manifests: format_version 1 and a checksum of model.npz only."""
    meta = read_metadata(directory)
    meta["format_version"] = 1
    meta["arrays_sha256"] = "0" * 64
    (directory / METADATA_FILE).write_text(json.dumps(meta))
    (directory / MANIFEST_FILE).unlink()


def _tamper_metadata(directory: Path) -> None:
    """Change a cut-off in metadata.json without resealing: what a hand edit does."""
    meta = read_metadata(directory)
    meta["policy"]["threshold"] = 0.9
    (directory / METADATA_FILE).write_text(json.dumps(meta))


def _write_sealed(name: str, data: bytes) -> Callable[[Path], None]:
    def apply(directory: Path) -> None:
        (directory / name).write_bytes(data)
        seal(directory)

    return apply


def _garbage_onnx(arrays: dict[str, np.ndarray]) -> None:
    arrays["onnx"] = np.frombuffer(b"not an onnx graph" * 10, dtype=np.uint8)


def _drop_reference(arrays: dict[str, np.ndarray]) -> None:
    del arrays["reference"]


def _short_reference(arrays: dict[str, np.ndarray]) -> None:
    arrays["reference"] = arrays["reference"][:2]


BREAKAGES = (
    # What the manifest catches.
    Breakage("tampered metadata", _tamper_metadata, (METADATA_FILE, "checksum")),
    Breakage("tampered arrays", _append(ARRAYS_FILE, b"x"), (ARRAYS_FILE, "checksum")),
    Breakage("unexpected file", _add_file, ("unexpected", "notes.txt")),
    Breakage("no manifest", _remove_manifest, (MANIFEST_FILE, "missing")),
    Breakage("old format", _old_format, ("format_version 1", "retrain")),
    # Files that pass their checksums but are not what the code reads.
    Breakage(
        "metadata not an object",
        _write_sealed(METADATA_FILE, b"[1, 2]"),
        (METADATA_FILE, "JSON object"),
    ),
    Breakage(
        "arrays not an archive",
        _write_sealed(ARRAYS_FILE, b"PK\x03\x04 truncated"),
        (ARRAYS_FILE, "not a readable numpy archive"),
    ),
    Breakage(
        "corrupt onnx graph",
        arrays_change(_garbage_onnx),
        (ARRAYS_FILE, "onnx_trees model does not run"),
    ),
    Breakage("missing array", arrays_change(_drop_reference), (ARRAYS_FILE, "'reference'")),
    Breakage(
        "wrong array shape",
        arrays_change(_short_reference),
        (ARRAYS_FILE, "onnx_trees model does not run"),
    ),
    Breakage("missing key", _set("policy", _DELETE), (METADATA_FILE, "'policy' is missing")),
    Breakage(
        "features not a list",
        _set("features", "all of them"),
        (METADATA_FILE, "'features' must be a list of objects"),
    ),
    Breakage(
        "feature name not a string",
        _set("features.0.name", 7),
        (METADATA_FILE, "'features[0].name' must be a string"),
    ),
    Breakage(
        "use_age not a boolean",
        _set("use_age", "no"),
        (METADATA_FILE, "'use_age' must be true or false"),
    ),
    Breakage(
        "use_education missing",
        _set("use_education", _DELETE),
        (METADATA_FILE, "'use_education' is missing"),
    ),
    Breakage(
        "low credit limit not positive",
        _set("reason_policy.low_credit_limit", 0),
        (METADATA_FILE, "'reason_policy.low_credit_limit'", "must be > 0"),
    ),
    Breakage(
        "baseline population not a string",
        _set("reason_policy.baseline.population", 3),
        (METADATA_FILE, "'reason_policy.baseline.population' must be a string"),
    ),
    Breakage(
        "unknown predictor",
        _set("predictor", "xgboost"),
        (METADATA_FILE, "'predictor' must be one of"),
    ),
    Breakage(
        "isotonic calibration",
        _set("calibration.method", "isotonic"),
        (METADATA_FILE, "'calibration.method' must be one of platt"),
    ),
    Breakage(
        "calibration slope not a number",
        _set("calibration.slope", "steep"),
        (METADATA_FILE, "'calibration.slope' must be a finite number"),
    ),
    Breakage(
        "threshold out of range",
        _set("policy.threshold", 1.5),
        (METADATA_FILE, "'policy.threshold'", "0 < review_threshold <= threshold < 1"),
    ),
    Breakage(
        "threshold a string",
        _set("policy.threshold", "0.3"),
        (METADATA_FILE, "'policy.threshold' must be a finite number"),
    ),
    Breakage(
        "grade bands not rising",
        _set("policy.grade_bands.1.pd_max", 0.01),
        (METADATA_FILE, "'policy.grade_bands'", "rise strictly"),
    ),
    Breakage(
        "score scaling key missing",
        _set("policy.score_scaling.base_odds", _DELETE),
        (METADATA_FILE, "'policy.score_scaling.base_odds' is missing"),
    ),
    Breakage(
        "input field range not a number",
        _set("input_fields.0.train_min", "low"),
        (METADATA_FILE, "'input_fields[0].train_min' must be a finite number"),
    ),
)

"""The labelled training file as arrays, with its fingerprint and per-row content digests.

`read_training_data` is what `bankrisk train` and the quality benchmark read: the validated
frame, the 23 fields as a float matrix in `schema.FIELD_NAMES` order, the labels and a
fingerprint of the file (name, size, sha256, rows, columns, positive rate).

`row_digests` identifies rows by content (the 23 field values and the label), not by position
or ID, so the rows a model was trained on can be recognised in any other file that contains
them, whatever its format, order or IDs. A model bundle stores the digests of its development
rows compactly (`encode_digests`: 8 bytes a row, base64) and `bankrisk evaluate` counts how
many evaluated rows are among them (`overlap`).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bankrisk.data.load import file_fingerprint, load_dataset
from bankrisk.data.validate import validate_frame
from bankrisk.schema import FIELD_NAMES, TARGET

# How a row digest is made, stored beside the digests so that a reader can check it.
DIGEST_METHOD = "sha256(23 fields then label, float64 little-endian)[:8]"
_DIGEST_BYTES = 8


@dataclass(frozen=True)
class TrainingData:
    raw: np.ndarray
    labels: np.ndarray
    frame: pd.DataFrame
    fingerprint: dict[str, Any]


def read_training_data(path: Path) -> TrainingData:
    """Load and validate a labelled file (the target is required); `DataError` if bad."""
    frame = validate_frame(load_dataset(path), require_target=True)
    labels = frame[TARGET].to_numpy(dtype=np.int64)
    return TrainingData(
        raw=frame[list(FIELD_NAMES)].to_numpy(dtype=np.float64),
        labels=labels,
        frame=frame,
        fingerprint={
            # The file's name, not its path: artifacts must not record a machine's layout.
            "file": Path(path).name,
            "size_bytes": Path(path).stat().st_size,
            "sha256": file_fingerprint(path),
            "rows": int(labels.size),
            "columns": int(frame.shape[1]),
            "positive_rate": float(labels.mean()),
        },
    )


def row_digests(raw: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One uint64 per row: the first 8 bytes of the sha256 of its 23 fields and its label.

    Values are hashed as float64, so 3913, 3913.0 and an int64 3913 give the same digest, as
    do -0.0 and 0.0. Identical rows (same fields and label) get the same digest.
    """
    rows = np.asarray(raw, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != len(FIELD_NAMES):
        raise ValueError(f"expected rows of {len(FIELD_NAMES)} fields, got shape {rows.shape}")
    target = np.asarray(labels, dtype=np.float64).reshape(-1, 1)
    if target.shape[0] != rows.shape[0]:
        raise ValueError(f"{rows.shape[0]} rows but {target.shape[0]} labels")
    table = np.ascontiguousarray(np.hstack([rows, target]) + 0.0, dtype="<f8")
    digests = [hashlib.sha256(row.tobytes()).digest()[:_DIGEST_BYTES] for row in table]
    return np.frombuffer(b"".join(digests), dtype="<u8").astype(np.uint64)


def encode_digests(digests: np.ndarray) -> dict[str, Any]:
    """A JSON-able, compact record of a set of row digests (sorted, unique, base64)."""
    unique = np.unique(np.asarray(digests, dtype=np.uint64))
    return {
        "method": DIGEST_METHOD,
        "rows": int(np.asarray(digests).size),
        "unique": int(unique.size),
        "digests": base64.b64encode(unique.astype("<u8").tobytes()).decode("ascii"),
    }


def decode_digests(record: dict[str, Any]) -> np.ndarray:
    """The digests of an `encode_digests` record; ValueError if it was made another way."""
    if record.get("method") != DIGEST_METHOD:
        raise ValueError(f"unknown row digest method {record.get('method')!r}")
    data = base64.b64decode(str(record["digests"]), validate=True)
    return np.frombuffer(data, dtype="<u8").astype(np.uint64)


def overlap(digests: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Boolean mask: which of `digests` are among `known`."""
    return np.isin(np.asarray(digests, dtype=np.uint64), np.asarray(known, dtype=np.uint64))

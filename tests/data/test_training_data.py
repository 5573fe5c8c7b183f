"""Reading the training file, and recognising its rows by content."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankrisk.data.training_data import (
    decode_digests,
    encode_digests,
    overlap,
    read_training_data,
    row_digests,
)
from bankrisk.errors import DataError
from bankrisk.schema import FIELD_NAMES, ID_COLUMN, TARGET
from helpers.factories import make_raw


def frame_of(raw: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(np.round(raw), columns=list(FIELD_NAMES))
    frame.insert(0, ID_COLUMN, np.arange(1, len(frame) + 1))
    frame[TARGET] = labels
    return frame


def test_read_training_data(tmp_path: Path) -> None:
    raw, labels = make_raw(200, seed=3)
    path = tmp_path / "train.csv"
    frame_of(raw, labels).to_csv(path, index=False)
    data = read_training_data(path)
    np.testing.assert_array_equal(data.raw, np.round(raw))
    np.testing.assert_array_equal(data.labels, labels)
    assert data.raw.dtype == np.float64 and data.labels.dtype == np.int64
    fingerprint = data.fingerprint
    assert fingerprint["rows"] == 200 and fingerprint["columns"] == 25
    assert fingerprint["positive_rate"] == pytest.approx(labels.mean())
    assert fingerprint["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert fingerprint["file"] == "train.csv"
    assert fingerprint["size_bytes"] == path.stat().st_size
    assert str(tmp_path) not in str(fingerprint)  # never the path


def test_read_training_data_needs_the_target(tmp_path: Path) -> None:
    raw, labels = make_raw(20, seed=3)
    path = tmp_path / "unlabelled.csv"
    frame_of(raw, labels).drop(columns=[TARGET]).to_csv(path, index=False)
    with pytest.raises(DataError, match=TARGET):
        read_training_data(path)


def test_row_digests_identify_rows_by_content() -> None:
    raw, labels = make_raw(300, seed=4)
    digests = row_digests(raw, labels)
    assert digests.dtype == np.uint64 and digests.shape == (300,)
    assert np.unique(digests).size == 300
    # Order does not matter; int and float, 0.0 and -0.0 are the same value.
    order = np.random.default_rng(1).permutation(300)
    np.testing.assert_array_equal(row_digests(raw[order], labels[order]), digests[order])
    whole = np.round(raw)
    assert np.array_equal(row_digests(whole.astype(np.int64), labels), row_digests(whole, labels))
    zeros = np.where(whole == 0, -0.0, whole)
    np.testing.assert_array_equal(row_digests(zeros, labels), row_digests(whole, labels))
    # Any field or the label changes the digest.
    for j in range(len(FIELD_NAMES)):
        changed = raw.copy()
        changed[0, j] += 1
        assert row_digests(changed, labels)[0] != digests[0], FIELD_NAMES[j]
    assert row_digests(raw, 1 - labels)[0] != digests[0]


def test_digests_round_trip_compactly() -> None:
    raw, labels = make_raw(1000, seed=5)
    digests = row_digests(raw, labels)
    record = encode_digests(np.concatenate([digests, digests[:10]]))  # 10 duplicates
    assert record["rows"] == 1010 and record["unique"] == 1000
    assert len(record["digests"]) == 4 * -(-8 * 1000 // 3)  # base64 of 8 bytes a row
    decoded = decode_digests(record)
    np.testing.assert_array_equal(np.sort(decoded), np.sort(digests))
    with pytest.raises(ValueError, match="method"):
        decode_digests({**record, "method": "md5"})


def test_overlap_counts_known_rows() -> None:
    raw, labels = make_raw(500, seed=6)
    known = decode_digests(encode_digests(row_digests(raw[:400], labels[:400])))
    other_raw, other_labels = make_raw(100, seed=7)
    rows = np.vstack([raw[350:], other_raw])  # 50 known, 100 + 100 new
    seen = overlap(row_digests(rows, np.concatenate([labels[350:], other_labels])), known)
    assert seen.tolist() == [True] * 50 + [False] * 200

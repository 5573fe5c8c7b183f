"""`bankrisk evaluate` warns when the evaluated rows were used to train the model."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.data.training_data import encode_digests, row_digests
from bankrisk.evaluation.evaluate import evaluate_bundle
from bankrisk.evaluation.metrics import classification_metrics
from bankrisk.schema import FIELD_NAMES, ID_COLUMN, TARGET
from helpers.factories import make_bundle, make_raw

BANKRISK = Path(sys.executable).with_name("bankrisk")


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, np.ndarray]:
    raw, labels = make_raw(1000, seed=31)
    return np.round(raw), labels  # whole NT dollars: exact in CSV


@pytest.fixture(scope="module")
def bundle_dir(
    tmp_path_factory: pytest.TempPathFactory, rows: tuple[np.ndarray, np.ndarray]
) -> Path:
    """A bundle that says it was developed on the first 800 of `rows`."""
    raw, labels = rows
    bundle = make_bundle()
    record = encode_digests(row_digests(raw[:800], labels[:800]))
    directory = tmp_path_factory.mktemp("bundle")
    dataclasses.replace(bundle, metadata={**bundle.metadata, "training_rows": record}).save(
        directory
    )
    return directory


def write(path: Path, raw: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> Path:
    frame = pd.DataFrame(raw, columns=list(FIELD_NAMES))
    frame.insert(0, ID_COLUMN, ids)
    frame[TARGET] = labels
    frame.to_csv(path, index=False)
    return path


def test_warns_with_the_share_of_training_rows(
    bundle_dir: Path, rows: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    raw, labels = rows
    # Rows 500..999 (300 seen, 200 not), shuffled, with new IDs, as parquet: found by content.
    order = np.random.default_rng(2).permutation(np.arange(500, 1000))
    frame = pd.DataFrame(raw[order], columns=list(FIELD_NAMES))
    frame.insert(0, ID_COLUMN, np.arange(9001, 9501))
    frame[TARGET] = labels[order]
    path = tmp_path / "mixed.parquet"
    frame.to_parquet(path)
    out = tmp_path / "scores.csv"
    result = evaluate_bundle(bundle_dir, path, out)
    assert result["training_overlap"] == {"rows": 500, "seen_in_training": 300}
    bundle = ModelBundle.load(bundle_dir)
    unseen = order >= 800
    unseen_auc = classification_metrics(
        labels[order][unseen], bundle.predict_pd(raw[order][unseen]), 0.5
    )["roc_auc"]
    assert result["warnings"] == [
        "300 of 500 rows (60%) were used to train this model; metrics on them are optimistic "
        f"(ROC AUC on the 200 unseen rows alone: {unseen_auc:.4f})"
    ]
    scores = pd.read_csv(out)
    assert scores["seen_in_training"].tolist() == (order < 800).tolist()
    assert scores[ID_COLUMN].tolist() == list(range(9001, 9501))


def test_no_warning_on_unseen_rows(
    bundle_dir: Path, rows: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    raw, labels = rows
    path = write(tmp_path / "test.csv", raw[800:], labels[800:], np.arange(800, 1000))
    result = evaluate_bundle(bundle_dir, path)
    assert result["training_overlap"] == {"rows": 200, "seen_in_training": 0}
    assert result["warnings"] == []


def test_all_rows_seen(
    bundle_dir: Path, rows: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    raw, labels = rows
    path = write(tmp_path / "train.csv", raw[:100], labels[:100], np.arange(100))
    (warning,) = evaluate_bundle(bundle_dir, path)["warnings"]
    assert warning.startswith("100 of 100 rows (100%) were used to train this model")
    assert warning.endswith("(every row was seen in training)")


def test_a_bundle_without_training_rows_cannot_tell(
    rows: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    raw, labels = rows
    make_bundle().save(tmp_path / "old")
    path = write(tmp_path / "data.csv", raw[:50], labels[:50], np.arange(50))
    result = evaluate_bundle(tmp_path / "old", path)
    assert result["training_overlap"] is None and result["warnings"] == []


def test_cli_prints_the_warning_on_stderr(
    bundle_dir: Path, rows: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    raw, labels = rows
    path = write(tmp_path / "train.csv", raw[:400], labels[:400], np.arange(400))
    done = subprocess.run(
        [str(BANKRISK), "evaluate", "--model-dir", str(bundle_dir), "--data", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "warning: 400 of 400 rows (100%) were used to train this model" in done.stderr
    assert '"seen_in_training": 400' in done.stdout


def evaluate_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BANKRISK), "evaluate", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(("label", "suffix"), [("default", ".csv"), ("target", ".parquet")])
def test_target_names_the_label_column(
    label: str,
    suffix: str,
    bundle_dir: Path,
    rows: tuple[np.ndarray, np.ndarray],
    tmp_path: Path,
) -> None:
    """Public copies of the data call the label `default` or `target`: --target names it."""
    raw, labels = rows
    uci = write(tmp_path / "uci.csv", raw[800:], labels[800:], np.arange(800, 1000))
    public = pd.read_csv(uci).rename(columns={TARGET: label})
    path = tmp_path / f"public{suffix}"
    if suffix == ".csv":
        public.to_csv(path, index=False)
    else:
        public.to_parquet(path)

    refused = evaluate_cli("--model-dir", str(bundle_dir), "--data", str(path))
    assert refused.returncode == 2 and TARGET in refused.stderr, refused.stderr

    done = evaluate_cli("--model-dir", str(bundle_dir), "--data", str(path), "--target", label)
    assert done.returncode == 0, done.stderr
    done_json = evaluate_cli(
        "--model-dir", str(bundle_dir), "--data", str(path), "--target", label, "--json"
    )
    result = json.loads(done_json.stdout)
    expected = json.loads(json.dumps(evaluate_bundle(bundle_dir, uci)))
    assert result["metrics"] == expected["metrics"]
    assert result["data"] == str(path)


def test_target_must_name_a_column(
    bundle_dir: Path, rows: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    raw, labels = rows
    path = write(tmp_path / "uci.csv", raw[:50], labels[:50], np.arange(50))
    done = evaluate_cli("--model-dir", str(bundle_dir), "--data", str(path), "--target", "label")
    assert done.returncode == 2
    assert f"--target label: {path} has no column 'label'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    # A UCI spelling of the label needs no --target, and is accepted as one.
    same = evaluate_cli("--model-dir", str(bundle_dir), "--data", str(path), "--target", "Y")
    assert same.returncode == 0, same.stderr

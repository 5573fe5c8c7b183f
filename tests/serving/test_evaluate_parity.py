"""The API serves exactly what `bankrisk evaluate` computes offline for the same rows."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bankrisk.schema import FIELD_NAMES, ID_COLUMN, TARGET
from helpers.api import Api, to_customer
from helpers.factories import make_raw

BANKRISK = Path(sys.executable).with_name("bankrisk")
N_ROWS = 50


@pytest.fixture(scope="module")
def labelled_rows() -> tuple[np.ndarray, np.ndarray]:
    raw, labels = make_raw(N_ROWS, seed=23)
    # Whole NT dollars, as in the UCI file: every value is exact in CSV and in JSON.
    return np.round(raw), labels


def write_csv(path: Path, raw: np.ndarray, labels: np.ndarray) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([ID_COLUMN, *FIELD_NAMES, TARGET])
        for i, (row, label) in enumerate(zip(raw, labels, strict=True)):
            values = to_customer(row)
            writer.writerow([i + 1, *(values[name] for name in FIELD_NAMES), int(label)])


def test_served_scores_equal_bankrisk_evaluate(
    api: Api,
    bundle_dir: Path,
    labelled_rows: tuple[np.ndarray, np.ndarray],
    tmp_path: Path,
) -> None:
    raw, labels = labelled_rows
    data, out = tmp_path / "labelled.csv", tmp_path / "scores.csv"
    write_csv(data, raw, labels)
    assert BANKRISK.is_file(), f"console script not installed next to {sys.executable}"

    done = subprocess.run(
        [
            str(BANKRISK),
            "evaluate",
            "--model-dir",
            str(bundle_dir),
            "--data",
            str(data),
            "--output",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["model"] == {"name": "test-model", "version": "7"}
    assert summary["metrics"]["n"] == N_ROWS
    with out.open(newline="") as handle:
        offline = list(csv.DictReader(handle))
    assert [int(r[ID_COLUMN]) for r in offline] == list(range(1, N_ROWS + 1))

    records = [to_customer(row, f"row-{i + 1}") for i, row in enumerate(raw)]
    response = api.client.post("/v1/predict/batch", json={"records": records})
    assert response.status_code == 200
    served = response.json()["predictions"]

    assert len(served) == len(offline) == N_ROWS
    for online, row in zip(served, offline, strict=True):
        assert online["customer_id"] == f"row-{row[ID_COLUMN]}"
        assert online["probability_of_default"] == pytest.approx(
            float(row["probability_of_default"]), abs=1e-12
        )
        assert online["score"] == int(float(row["score"]))
        assert online["risk_grade"] == row["risk_grade"]
        assert online["decision"] == row["decision"]
    assert len({p["decision"] for p in served}) >= 2, "the rows should not all get one decision"

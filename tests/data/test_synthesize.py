"""`bankrisk data synthesize`: resampled real rows with small noise, every value valid, the
mix of the source kept, reproducible by seed, written in chunks to CSV or Parquet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankrisk.data.load import load_dataset
from bankrisk.data.synthesize import resample, source_rows, synthesize_file
from bankrisk.data.validate import validate_frame
from bankrisk.schema import FIELD_NAMES, FIELDS

BANKRISK = str(Path(sys.executable).with_name("bankrisk"))


@pytest.fixture(scope="module")
def source(shared_csv: Path) -> np.ndarray:
    return source_rows(shared_csv)


def test_rows_are_valid_and_keep_the_source_mix(source: np.ndarray) -> None:
    rows = resample(source, 50_000, np.random.default_rng(0))
    frame = pd.DataFrame(rows, columns=list(FIELD_NAMES))
    validate_frame(frame, require_target=False)  # raises on any invalid value
    for j, spec in enumerate(FIELDS):
        assert rows[:, j].min() >= spec.minimum and rows[:, j].max() <= spec.maximum
    pay0 = FIELD_NAMES.index("PAY_0")
    for status in (-2, -1, 0, 1, 2):
        share, real = (rows[:, pay0] == status).mean(), (source[:, pay0] == status).mean()
        assert abs(share - real) < 0.01, status
    bill = FIELD_NAMES.index("BILL_AMT1")
    assert abs(np.median(rows[:, bill]) / np.median(source[:, bill]) - 1) < 0.05
    # noise: amounts are not copies of the source rows
    assert not np.isin(rows[:, bill][rows[:, bill] > 1000], source[:, bill]).all()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_file_in_chunks_is_reproducible(shared_csv: Path, tmp_path: Path, suffix: str) -> None:
    first, again, other = (tmp_path / f"{n}{suffix}" for n in ("a", "b", "c"))
    seen: list[int] = []
    assert (
        synthesize_file(shared_csv, first, 2_500, seed=3, chunk_rows=1_000, on_chunk=seen.append)
        == 2_500
    )
    assert seen == [1_000, 2_000, 2_500]
    synthesize_file(shared_csv, again, 2_500, seed=3, chunk_rows=1_000)
    synthesize_file(shared_csv, other, 2_500, seed=4, chunk_rows=1_000)
    frame = load_dataset(first)
    assert frame["ID"].tolist() == list(range(1, 2_501))
    validate_frame(frame, require_target=False)
    assert frame.equals(load_dataset(again)) and not frame.equals(load_dataset(other))


def test_cli(shared_csv: Path, tmp_path: Path) -> None:
    args = [BANKRISK, "data", "synthesize", "--data", str(shared_csv), "--output"]
    done = subprocess.run(
        [*args, "p.parquet", "--rows", "300"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "300 synthetic customers written to p.parquet" in done.stdout
    assert len(pd.read_parquet(tmp_path / "p.parquet")) == 300
    bad = subprocess.run(
        [*args, "p.json", "--rows", "0"], cwd=tmp_path, capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: --rows must be at least 1")
    bad = subprocess.run(
        [*args, "p.json", "--rows", "5"], cwd=tmp_path, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "--output p.json: unsupported file type '.json'" in bad.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.parquet"]

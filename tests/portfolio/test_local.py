"""`bankrisk score` on one machine: the API's values for every row, whatever the format and
chunking; bad rows named (row, field, reason) with nothing written, or set aside with
--skip-invalid; bad files and options as one line and exit code 2."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.core.scorer import Scorer
from bankrisk.data.load import load_dataset
from bankrisk.data.validate import validate_frame
from bankrisk.portfolio.local import InvalidRowsError, score_file
from bankrisk.portfolio.progress import progress_bar
from bankrisk.schema import FIELD_NAMES
from helpers.portfolio import matrix, portfolio_frame

BANKRISK = str(Path(sys.executable).with_name("bankrisk"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKRISK_")}
    return subprocess.run(
        [BANKRISK, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def api_answers(scorer: Scorer, frame: pd.DataFrame, id_column: str) -> list[dict[str, Any]]:
    """What the API's scoring core answers for these customers, in the output's layout."""
    ids = [str(i) for i in frame[id_column]]
    rows = []
    for p in scorer.predict(matrix(frame), ids):
        row: dict[str, Any] = {
            id_column: p["customer_id"],
            "probability_of_default": p["probability_of_default"],
            "score": p["score"],
            "risk_grade": p["risk_grade"],
            "decision": p["decision"],
            "warnings": "; ".join(p["warnings"]) or None,
        }
        for k in range(1, 5):
            reason: dict[str, Any] | None = (
                dict(p["reason_codes"][k - 1]) if k <= len(p["reason_codes"]) else None
            )
            for part in ("code", "feature", "attribute", "value", "text", "contribution"):
                row[f"reason_{k}_{part}"] = reason[part] if reason else None
        rows.append(row)
    return rows


def assert_same(output: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(output) == len(expected)
    got_pd = np.array([r.pop("probability_of_default") for r in output])
    want_pd = np.array([r.pop("probability_of_default") for r in expected])
    np.testing.assert_allclose(got_pd, want_pd, rtol=0, atol=1e-12)
    assert output == expected


def read_output(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype={"ID": str, "customer_id": str}, keep_default_na=False)
        frame = frame.replace("", None)
        # Contributions are numbers, read as text with the empty cells of rows with fewer
        # reasons.
        return [
            {
                k: float(v) if k.endswith("_contribution") and v is not None else v
                for k, v in r.items()
            }
            for r in frame.to_dict("records")
        ]
    return list(pq.read_table(path).to_pylist())


def test_parquet_output_equals_the_api(
    bundle_dir: Path, scorer: Scorer, portfolio_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    summary = score_file(bundle_dir, portfolio_csv, out)
    output = read_output(out)
    assert_same(output, api_answers(scorer, pd.read_csv(portfolio_csv), "customer_id"))
    assert summary.rows_scored == 2000 and summary.rows_rejected == 0
    assert sum(summary.decisions.values()) == 2000
    assert output[0]["warnings"] is not None and "LIMIT_BAL" in output[0]["warnings"]
    assert any(r["reason_4_code"] for r in output)  # rows with all four reasons occur


def test_chunking_and_csv_output_change_nothing(
    bundle_dir: Path, portfolio_csv: Path, tmp_path: Path
) -> None:
    whole, small = tmp_path / "whole.parquet", tmp_path / "small.csv"
    score_file(bundle_dir, portfolio_csv, whole)
    score_file(bundle_dir, portfolio_csv, small, chunk_rows=333)
    assert_same(read_output(small), read_output(whole))


def test_parquet_input_with_integer_columns(
    bundle_dir: Path, scorer: Scorer, tmp_path: Path
) -> None:
    frame = portfolio_frame(500, seed=8)
    for name in ("SEX", "AGE", "PAY_0"):
        frame[name] = frame[name].astype("int64")
    frame = frame.rename(columns={"customer_id": "ID"})
    frame["ID"] = np.arange(1, 501)  # numeric ids come out as text
    source = tmp_path / "in.parquet"
    frame.to_parquet(source)
    score_file(bundle_dir, source, tmp_path / "out.parquet")
    assert_same(read_output(tmp_path / "out.parquet"), api_answers(scorer, frame, "ID"))


@pytest.mark.parametrize("which", ["shared_csv", "shared_xls"])
def test_shared_data_files(
    which: str, bundle_dir: Path, bundle: ModelBundle, tmp_path: Path, request: Any
) -> None:
    source: Path = request.getfixturevalue(which)
    out = tmp_path / "scores.csv"
    score_file(bundle_dir, source, out)
    clean = validate_frame(load_dataset(source))
    output = read_output(out)
    assert [r["ID"] for r in output] == [str(i) for i in clean["ID"]]
    np.testing.assert_allclose(
        [r["probability_of_default"] for r in output],
        bundle.predict_pd(clean[list(FIELD_NAMES)].to_numpy(dtype=np.float64)),
        rtol=0,
        atol=1e-12,
    )


BAD_CELLS = [  # row (1 = the first data row), field, cell, the reason given
    (3, "PAY_0", "12", "PAY_0: must be between -2 and 9, got 12"),
    (5, "AGE", "abc", "AGE: not a number: 'abc'"),
    (7, "LIMIT_BAL", "", "LIMIT_BAL: missing value"),
    (8, "PAY_2", "1.5", "PAY_2: must be a whole number, got 1.5"),
    (9, "customer_id", "x" * 65, "customer_id: must be a string of 1 to 64 characters"),
]


def bad_csv(path: Path, rows: int = 40) -> Path:
    frame = portfolio_frame(rows).astype({name: object for name in FIELD_NAMES})
    for row, field, cell, _ in BAD_CELLS:
        frame.loc[row - 1, field] = cell
    frame.to_csv(path, index=False)
    return path


def test_bad_rows_stop_before_anything_is_written(bundle_dir: Path, tmp_path: Path) -> None:
    source = bad_csv(tmp_path / "in.csv")
    result = run(
        "score", "--model-dir", str(bundle_dir), "--input", "in.csv", "--output", "out.parquet",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "5 invalid rows; nothing was written" in result.stderr
    for row, _, _, reason in BAD_CELLS:
        assert f"row {row}: {reason}" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]


def test_the_listing_is_capped(bundle_dir: Path, tmp_path: Path) -> None:
    frame = portfolio_frame(60)
    frame.loc[:24, "PAY_0"] = 10
    frame.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(InvalidRowsError) as error:
        score_file(bundle_dir, tmp_path / "in.csv", tmp_path / "out.csv", chunk_rows=7)
    message = str(error.value)
    assert "25 invalid rows" in message and "... and 5 more invalid rows" in message
    assert "row 20: PAY_0" in message and "row 21: PAY_0" not in message
    assert not (tmp_path / "out.csv").exists()


def test_skip_invalid_scores_the_rest_and_writes_rejects(
    bundle_dir: Path, scorer: Scorer, tmp_path: Path
) -> None:
    bad_csv(tmp_path / "in.csv")
    result = run(
        "score", "--model-dir", str(bundle_dir), "--input", "in.csv", "--output", "out.parquet",
        "--skip-invalid", "--chunk-rows", "4", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "35 rows scored, 5 rejected" in result.stdout
    rejects = pd.read_csv(tmp_path / "out.rejects.csv", dtype=str, keep_default_na=False)
    assert list(rejects.columns) == ["row", "field", "reason", "customer_id", *FIELD_NAMES]
    assert rejects["row"].astype(int).tolist() == [row for row, *_ in BAD_CELLS]
    assert rejects["field"].tolist() == [field for _, field, _, _ in BAD_CELLS]
    assert rejects["reason"].tolist() == [reason for *_, reason in BAD_CELLS]
    for (_, field, cell, _), (_, reject) in zip(BAD_CELLS, rejects.iterrows(), strict=True):
        assert reject[field] == cell  # the original cell, as read
    valid = portfolio_frame(40).drop(index=[row - 1 for row, *_ in BAD_CELLS])
    assert_same(read_output(tmp_path / "out.parquet"), api_answers(scorer, valid, "customer_id"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "missing.csv"], "--input missing.csv: file not found"),
        (["--input", "in.txt"], "--input in.txt: unsupported file type '.txt'"),
        (["--input", "no_pay.csv"], "--input no_pay.csv: missing required columns: PAY_0, PAY_2"),
        (["--input", "in.csv", "--output", "out.json"], "--output out.json: unsupported file"),
        (["--input", "in.csv", "--chunk-rows", "0"], "--chunk-rows must be at least 1, got 0"),
        (["--input", "in.csv", "--model-dir", "nowhere"], "nowhere"),
        (["--input", "ragged.csv"], "--input ragged.csv: not a valid CSV file (CSV parse error"),
        (["--input", "in.csv", "--master", "local[2]"], "--master is for --engine spark"),
        (
            ["--input", "in.csv", "--engine", "spark", "--model-dir", "nowhere"],
            "--model-dir nowhere: no bundle there",
        ),
    ],
    ids=[
        "missing",
        "extension",
        "columns",
        "output",
        "chunk",
        "bundle",
        "ragged",
        "master",
        "spark",
    ],
)
def test_bad_files_and_options_are_one_line(
    args: list[str], message: str, bundle_dir: Path, tmp_path: Path
) -> None:
    frame = portfolio_frame(5)
    frame.to_csv(tmp_path / "in.csv", index=False)
    frame.to_csv(tmp_path / "in.txt", index=False)
    frame.drop(columns=["PAY_0", "PAY_2"]).to_csv(tmp_path / "no_pay.csv", index=False)
    text = (tmp_path / "in.csv").read_text()
    (tmp_path / "ragged.csv").write_text(text + "C-9,1,2,3\n")  # a line of 4 cells, not 24
    options = {"--output": "out.parquet", "--model-dir": str(bundle_dir)}
    options.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = run("score", *(x for kv in options.items() for x in kv), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_summary_and_no_progress_bar_off_a_terminal(bundle_dir: Path, tmp_path: Path) -> None:
    portfolio_frame(300).to_csv(tmp_path / "in.csv", index=False)
    result = run(
        "score", "--model-dir", str(bundle_dir), "--input", "in.csv", "--output", "out.csv",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no bar drawn into a pipe
    decided = pd.read_csv(tmp_path / "out.csv")["decision"].value_counts()
    expected = ", ".join(f"{d} {decided.get(d, 0):,}" for d in ("approve", "review", "decline"))
    assert "300 rows scored, 0 rejected in " in result.stdout
    assert expected in result.stdout


def test_progress_bar_on_a_terminal(bundle_dir: Path, portfolio_csv: Path, tmp_path: Path) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with progress_bar(console) as on_progress:
        assert on_progress is not None
        score_file(bundle_dir, portfolio_csv, tmp_path / "o.parquet", 500, False, on_progress)
    assert "2,000 rows" in screen.getvalue() and "rows/s" in screen.getvalue()
    with progress_bar(Console(file=io.StringIO())) as off:
        assert off is None

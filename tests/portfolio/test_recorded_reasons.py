"""A portfolio file and a recorded run carry each reason whole, as the API states it: code,
feature list, attribute, value and text (and contribution), so that an adverse-action notice
can be produced from a portfolio run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from typer.testing import CliRunner

from bankrisk.bundle.model_bundle import MAX_REASONS
from bankrisk.cli import app
from bankrisk.core.scorer import Scorer
from bankrisk.portfolio.columns import REASON_PARTS, SCORE_COLUMNS
from bankrisk.prediction_log.store import open_store
from helpers.portfolio import matrix
from helpers.reason_checker import tally_adverse

RUN = "2026-04-portfolio"
# The keys of the API's reason objects, in its order (what the service's log rows carry).
API_KEYS = ["code", "group", "feature", "attribute", "value", "text", "contribution"]


def test_output_columns_name_every_part_of_each_reason() -> None:
    reason_columns = [c for c in SCORE_COLUMNS if c.startswith("reason_")]
    assert reason_columns == [
        f"reason_{k}_{part}"
        for k in range(1, MAX_REASONS + 1)
        for part in ("code", "feature", "attribute", "value", "text", "contribution")
    ]
    assert REASON_PARTS[:2] == ("code", "feature")


def test_the_file_and_the_recorded_run_carry_the_apis_reasons(
    bundle_dir: Path, scorer: Scorer, portfolio_csv: Path, tmp_path: Path
) -> None:
    output, url = tmp_path / "scores.parquet", f"sqlite:///{tmp_path / 'log.db'}"
    args = ["score", "--input", str(portfolio_csv), "--output", str(output)]
    args += ["--model-dir", str(bundle_dir), "--log", url, "--run-id", RUN]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(portfolio_csv)
    ids = [str(i) for i in frame["customer_id"]]
    served = {p["customer_id"]: p["reason_codes"] for p in scorer.predict(matrix(frame), ids)}
    assert sum(map(len, served.values())) > len(ids)

    rows = pq.read_table(output).to_pylist()
    for row in rows:
        reasons: list[dict[str, Any]] = [dict(r) for r in served[row["customer_id"]]]
        for k in range(1, MAX_REASONS + 1):
            stated = reasons[k - 1] if k <= len(reasons) else None
            got = {part: row[f"reason_{k}_{part}"] for part in REASON_PARTS}
            assert got == {p: None if stated is None else stated[p] for p in REASON_PARTS}

    store = open_store(url)
    assert store is not None
    logged = store.read_predictions()
    store.close()
    assert len(logged) == len(ids)
    for entry in logged:
        # The same objects, keys and order as the service's log rows carry.
        assert entry["reason_codes"] == [dict(r) for r in served[entry["customer_id"]]]
        assert all(list(r) == API_KEYS for r in entry["reason_codes"])
    not_adverse, _, problems = tally_adverse([e["reason_codes"] for e in logged])
    assert not not_adverse, problems

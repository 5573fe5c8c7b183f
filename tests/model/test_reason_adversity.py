"""Every reason the trained champion states, on every path, is true of the customer and reads
as a reason against them.

All 24,000 shared rows are scored through the scoring core (`Scorer.predict`), the API's batch
endpoint (in-process, batches of up to 10,000) and `bankrisk score` (a Parquet portfolio file,
whose reason columns carry each reason's attribute, value and text). The independent checker
(`helpers.reason_checker`) re-derives each reason's truth from the raw fields (`tally`) and
checks that it is one of an explicit list of adverse attributes, worded as such
(`tally_adverse`): no credit limit that is not low, no falling or steady balance, no moderate
balance, no "-0.0%".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bankrisk.bundle.model_bundle import MAX_REASONS, ModelBundle
from bankrisk.cli import app
from bankrisk.core.scorer import Scorer
from bankrisk.data.training_data import read_training_data
from bankrisk.schema import FIELD_NAMES
from helpers.api import batch_reason_codes
from helpers.reason_checker import tally, tally_adverse

pytestmark = pytest.mark.slow
PARTS = ("code", "feature", "attribute", "value", "text", "contribution")


def check_every_reason(
    raw: np.ndarray, answers: list[list[dict[str, Any]]], low_limit: float
) -> None:
    """0 untrue reasons, 0 rule breaches and 0 reasons that do not read as adverse."""
    customers = [dict(zip(FIELD_NAMES, row.tolist(), strict=True)) for row in raw]
    given, untrue, problems = tally(customers, answers, low_limit)
    assert sum(given.values()) > len(raw), given
    assert not untrue and not problems, (untrue, problems)
    not_adverse, answers_with, problems = tally_adverse(answers)
    assert not not_adverse and answers_with == 0, problems


def core_answers(champion: ModelBundle, raw: np.ndarray) -> list[list[dict[str, Any]]]:
    predictions = Scorer(champion).predict(raw, [None] * len(raw))
    return [[dict(r) for r in p["reason_codes"]] for p in predictions]


def file_answers(path: Path) -> list[list[dict[str, Any]]]:
    """Each row's reasons rebuilt from a portfolio file's reason columns."""
    rows = pq.read_table(path).to_pylist()
    return [
        [
            {part: row[f"reason_{k}_{part}"] for part in PARTS}
            for k in range(1, MAX_REASONS + 1)
            if row[f"reason_{k}_code"] is not None
        ]
        for row in rows
    ]


def test_every_path_states_only_true_adverse_reasons_on_all_shared_rows(
    champion: ModelBundle, champion_dir: Path, shared_csv: Path, tmp_path: Path
) -> None:
    raw = read_training_data(shared_csv).raw
    assert raw.shape[0] == 24_000
    low_limit = champion.reason_policy.low_credit_limit

    core = core_answers(champion, raw)
    check_every_reason(raw, core, low_limit)
    declines = sum(d == "decline" for d in champion.score(raw).decisions)
    assert declines > 1000  # the problem was in the declines: there are many

    api = batch_reason_codes(champion, raw)
    assert api == core
    check_every_reason(raw, api, low_limit)

    output = tmp_path / "scores.parquet"
    args = ["score", "--input", str(shared_csv), "--output", str(output)]
    result = CliRunner().invoke(app, [*args, "--model-dir", str(champion_dir)])
    assert result.exit_code == 0, result.output
    from_file = file_answers(output)
    # The file carries the API's reasons but the group, which the code implies.
    assert from_file == [[{p: r[p] for p in PARTS} for r in reasons] for reasons in core]
    check_every_reason(raw, from_file, low_limit)

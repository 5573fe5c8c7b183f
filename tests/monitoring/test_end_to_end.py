"""End to end through the real service: a `bankrisk serve` process with the SQLite prediction
log on scores the held-out rows of the champion trained on the shared data; then `bankrisk
monitor` finds no drift in them, finds exactly the inputs we shifted (and the features built
from them), and back-tests them to the same metrics as `bankrisk evaluate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.cli import app
from bankrisk.data.training_data import read_training_data
from bankrisk.evaluation.evaluate import evaluate_bundle
from bankrisk.prediction_log.store import open_store
from bankrisk.schema import FIELD_NAMES, ID_COLUMN, TARGET
from helpers.processes import served

if TYPE_CHECKING:
    from helpers.trained import Trained

pytestmark = pytest.mark.slow
BATCH = 2_000
LIMIT, PAY0 = FIELD_NAMES.index("LIMIT_BAL"), FIELD_NAMES.index("PAY_0")


def shift(raw: np.ndarray) -> np.ndarray:
    """LIMIT_BAL tripled, PAY_0 two months later (capped at 8)."""
    out = raw.copy()
    out[:, LIMIT] *= 3
    out[:, PAY0] = np.minimum(out[:, PAY0] + 2, 8)
    return out


def serve_and_log(model_dir: Path, url: str, raw: np.ndarray, ids: list[str]) -> None:
    """Score every row through /v1/predict/batch of a real server logging to `url`; stopping
    the server (SIGTERM) flushes the log, which then holds every row."""
    spool = url.removeprefix("sqlite:///") + ".spool"  # beside the log, not in the work tree
    with (
        served(model_dir, BANKRISK_PREDICTION_LOG=url, BANKRISK_PREDICTION_LOG_SPOOL=spool) as base,
        httpx.Client() as client,
    ):
        for start in range(0, len(raw), BATCH):
            records = [
                {"customer_id": ids[i], **dict(zip(FIELD_NAMES, raw[i].tolist(), strict=True))}
                for i in range(start, min(start + BATCH, len(raw)))
            ]
            answer = client.post(f"{base}/v1/predict/batch", json={"records": records}, timeout=60)
            assert answer.status_code == 200, answer.text
    store = open_store(url)
    assert store is not None
    assert store.count_predictions() == len(raw)
    store.close()


def drift(url: str, model_dir: Path) -> tuple[int, dict]:
    result = CliRunner().invoke(
        app, ["monitor", "drift", "--log", url, "--model-dir", str(model_dir), "--json"]
    )
    return result.exit_code, json.loads(result.stdout)


def test_monitoring_end_to_end(trained: Trained, shared_csv: Path, tmp_path: Path) -> None:
    model_dir = trained.report.model_dir
    bundle = ModelBundle.load(model_dir)
    data = read_training_data(shared_csv)
    test = np.sort(trained.report.test_index)
    frame = data.frame.iloc[test]
    raw = data.raw[test]
    ids = [str(i) for i in frame[ID_COLUMN].tolist()]
    held_out = tmp_path / "held_out.csv"  # the held-out rows, with ID and the observed flag
    frame.to_csv(held_out, index=False)

    plain_url, shifted_url = (f"sqlite:///{tmp_path / n}.db" for n in ("plain", "shifted"))
    for url, values in ((plain_url, raw), (shifted_url, shift(raw))):
        serve_and_log(model_dir, url, values, ids)

    # Untouched traffic: no alert.
    code, result = drift(plain_url, model_dir)
    assert code == 0 and result["alerts"] == [], result["alerts"]
    assert result["n"] == len(raw) and not result["window_too_small"]
    assert all(v["status"] == "ok" for v in result["inputs"].values())
    assert result["score"]["status"] == "ok" and result["pd"]["status"] == "ok"

    # Shifted traffic: exactly LIMIT_BAL and PAY_0, and features built from them.
    code, result = drift(shifted_url, model_dir)
    assert code == 1
    flagged = {k for k, v in result["inputs"].items() if v["status"] != "ok"}
    assert flagged == {"LIMIT_BAL", "PAY_0"}
    assert {a for a in result["alerts"] if a in FIELD_NAMES} == {"LIMIT_BAL", "PAY_0"}
    changed = np.any(bundle.features(raw) != bundle.features(shift(raw)), axis=0)
    names = [f["name"] for f in bundle.describe()["features"]]
    dependent = {n for n, c in zip(names, changed, strict=True) if c}
    feature_alerts = {
        a.removeprefix("feature:") for a in result["alerts"] if a.startswith("feature:")
    }
    assert feature_alerts and feature_alerts <= dependent
    assert {"log_limit_bal", "pay_status_0"} <= feature_alerts
    not_dependent = {k for k, v in result["features"].items() if k not in dependent}
    assert all(result["features"][k]["status"] == "ok" for k in not_dependent)

    # Outcomes, then performance: the same AUC, Brier, ECE and KS as `bankrisk evaluate`.
    runner = CliRunner()
    out = runner.invoke(
        app, ["monitor", "outcomes", "--log", plain_url, "--data", str(held_out), "--json"]
    )
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["matched"] == len(raw)
    again = runner.invoke(
        app, ["monitor", "outcomes", "--log", plain_url, "--data", str(held_out), "--json"]
    )
    assert json.loads(again.stdout)["unchanged"] == len(raw)
    perf = runner.invoke(
        app,
        [
            "monitor",
            "performance",
            "--log",
            plain_url,
            "--json",
            "--report",
            str(tmp_path / "perf.html"),
        ],
    )
    performance = json.loads(perf.stdout)
    # Exit code 3 exactly when a protected attribute fails the four-fifths rule.
    failed = performance["fairness"]["four_fifths_rule_failed"]
    assert perf.exit_code == (3 if failed else 0), perf.stderr
    expected = evaluate_bundle(model_dir, held_out)["metrics"]
    for key in ("roc_auc", "brier", "ece", "ks"):
        assert abs(performance[key] - expected[key]) < 1e-9, key
    assert performance["n"] == len(raw)
    assert sum(g["defaults"] for g in performance["grades"]) == int(frame[TARGET].sum())
    assert pd.Series([g["grade"] for g in performance["grades"]]).is_unique

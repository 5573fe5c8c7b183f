"""A portfolio run recorded in the prediction log (`bankrisk score --log`) is monitored as the
API's traffic is: the same drift as the same customers logged by the service, outcomes joined
to it reproduce the metrics of its own output, and a failed run records nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score
from typer.testing import CliRunner

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.cli import app
from bankrisk.prediction_log.store import open_store
from helpers.factories import make_raw
from helpers.log_rows import scored_rows
from helpers.portfolio import matrix, portfolio_frame

RUN = "2026-03-portfolio"
AS_OF = "2026-03-31T00:00:00+00:00"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def recorded(small_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("recorded")
    frame = portfolio_frame(3000, seed=8)
    frame.loc[0, "LIMIT_BAL"] = 500_000.0  # within the range: no warning needed here
    data = folder / "portfolio.csv"
    frame.to_csv(data, index=False)
    url = f"sqlite:///{folder / 'log.db'}"
    output = folder / "scores.csv"
    args = ["score", "--input", str(data), "--output", str(output)]
    args += ["--model-dir", str(small_bundle_dir), "--log", url, "--run-id", RUN]
    code, out = invoke(*args, "--as-of", AS_OF)
    assert code == 0, out
    return {"url": url, "frame": frame, "output": output, "folder": folder, "args": args}


def test_every_scored_customer_is_recorded_as_the_run(recorded: dict) -> None:
    store = open_store(recorded["url"])
    assert store is not None
    rows = store.read_predictions()
    store.close()
    assert len(rows) == 3000
    assert {r["request_id"] for r in rows} == {RUN}
    assert {r["model_role"] for r in rows} == {"portfolio"}
    assert {r["time"] for r in rows} == {datetime(2026, 3, 31, tzinfo=UTC)}
    scores = pd.read_csv(recorded["output"])
    by_id = {r["customer_id"]: r for r in rows}
    for _, row in scores.head(50).iterrows():
        logged = by_id[row["customer_id"]]
        assert logged["pd"] == pytest.approx(row["probability_of_default"], abs=1e-12)
        assert logged["grade"] == row["risk_grade"] and logged["decision"] == row["decision"]
        codes = [r["code"] for r in logged["reason_codes"]]
        assert codes == [c for c in row.filter(like="_code").tolist() if isinstance(c, str)]


def test_drift_of_the_run_is_the_drift_of_the_same_customers_served(
    recorded: dict, small_bundle_dir: Path
) -> None:
    """The same customers logged as the service logs them give the same figures."""
    served = recorded["folder"] / "served.db"
    store = open_store(f"sqlite:///{served}")
    assert store is not None
    raw = matrix(recorded["frame"])
    ids = recorded["frame"]["customer_id"].tolist()
    bundle = ModelBundle.load(small_bundle_dir)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    store.insert_predictions(scored_rows(bundle, raw, ids, start, timedelta(seconds=1)))
    store.close()
    drift = ["monitor", "drift", "--model-dir", str(small_bundle_dir), "--json"]
    code, run_out = invoke(*drift, "--log", recorded["url"], "--role", "portfolio", "--run", RUN)
    assert code in (0, 1), run_out
    code, served_out = invoke(*drift, "--log", f"sqlite:///{served}")
    run_drift, served_drift = json.loads(run_out), json.loads(served_out)
    assert run_drift["n"] == served_drift["n"] == 3000
    for section in ("inputs", "features"):
        for name, item in served_drift[section].items():
            assert run_drift[section][name]["psi"] == pytest.approx(item["psi"], abs=1e-12)
    assert run_drift["pd"]["psi"] == pytest.approx(served_drift["pd"]["psi"], abs=1e-12)
    assert run_drift["rows"] == "portfolio rows, run 2026-03-portfolio"


def test_outcomes_joined_to_the_run_give_the_metrics_of_its_output(recorded: dict) -> None:
    _, labels = make_raw(3000, seed=8)
    outcomes = recorded["folder"] / "outcomes.csv"
    frame = recorded["frame"]
    pd.DataFrame({"customer_id": frame["customer_id"], "defaulted": labels.astype(int)}).to_csv(
        outcomes, index=False
    )
    code, out = invoke("monitor", "outcomes", "--log", recorded["url"], "--data", str(outcomes))
    assert code == 0, out
    args = ["monitor", "performance", "--log", recorded["url"], "--role", "portfolio"]
    code, out = invoke(*args, "--run", RUN, "--json")
    assert code == 0, out
    result = json.loads(out)
    scores = pd.read_csv(recorded["output"])
    pds = scores["probability_of_default"].to_numpy()
    assert result["n"] == result["customers"] == 3000
    assert result["roc_auc"] == pytest.approx(roc_auc_score(labels, pds), abs=1e-9)
    assert result["brier"] == pytest.approx(brier_score_loss(labels, pds), abs=1e-9)
    assert np.isclose(result["mean_pd"], pds.mean(), atol=1e-9)


def test_a_run_id_is_recorded_once_and_a_failed_run_records_nothing(
    recorded: dict, tmp_path: Path
) -> None:
    again = [*recorded["args"][:4], str(tmp_path / "again.csv"), *recorded["args"][5:]]
    code, out = invoke(*again)
    assert code == 2 and f"--run-id {RUN}: that run is already in the log" in out
    bad = portfolio_frame(100, seed=9)
    bad.loc[50, "AGE"] = -4
    bad_file = tmp_path / "bad.csv"
    bad.to_csv(bad_file, index=False)
    args = ["score", "--input", str(bad_file), "--output", str(tmp_path / "bad-scores.csv")]
    args += [*recorded["args"][5:9], "--run-id", "bad-run"]
    code, out = invoke(*args)
    assert code == 2, out
    store = open_store(recorded["url"])
    assert store is not None
    assert {r["request_id"] for r in store.read_predictions()} == {RUN}
    store.close()

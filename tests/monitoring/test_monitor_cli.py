"""`bankrisk monitor drift|outcomes|performance|prune` on a small real bundle and a real
SQLite log: exit codes, JSON shape, idempotent outcomes, reports, one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.cli import app
from bankrisk.prediction_log.store import open_store
from bankrisk.schema import FIELD_NAMES
from helpers.factories import make_raw
from helpers.log_rows import log_scored

START = datetime(2026, 9, 1, tzinfo=UTC)
runner = CliRunner()


@pytest.fixture(scope="module")
def logs(small_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Two logs of 2,000 scored customers: as trained, and with LIMIT_BAL tripled."""
    bundle = ModelBundle.load(small_bundle_dir)
    raw, labels = make_raw(2000, seed=11)
    ids = [str(50_000 + i) for i in range(len(raw))]
    folder = tmp_path_factory.mktemp("logs")
    urls = {}
    for name, values in (
        ("plain", raw),
        ("drifted", raw * [3.0 if f == "LIMIT_BAL" else 1.0 for f in FIELD_NAMES]),
    ):
        url = f"sqlite:///{folder / name}.db"
        store = open_store(url)
        assert store is not None
        log_scored(store, bundle, values, ids, START)
        urls[name] = url
    outcomes = folder / "outcomes.csv"
    pd.DataFrame({"customer_id": ids, "defaulted": labels.astype(int)}).to_csv(
        outcomes, index=False
    )
    yield {**urls, "outcomes": outcomes, "labels": labels, "folder": folder}


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_drift_on_untouched_traffic_exits_0(logs: dict, small_bundle_dir: Path) -> None:
    code, out, err = invoke(
        "monitor", "drift", "--log", logs["plain"], "--model-dir", str(small_bundle_dir), "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["n"] == 2000 and result["alerts"] == []
    assert set(result["inputs"]) == set(FIELD_NAMES)
    assert all(v["status"] == "ok" for v in result["inputs"].values())
    assert {"psi", "status"} <= set(result["score"]) and {"psi", "status"} <= set(result["pd"])
    assert result["features"] and result["window_too_small"] is False
    assert result["inputs"]["LIMIT_BAL"]["test"] == "ks"
    assert result["inputs"]["PAY_0"]["test"] == "chi2"


def test_drift_alerts_exit_1_and_names_the_input(
    logs: dict, small_bundle_dir: Path, tmp_path: Path
) -> None:
    report = tmp_path / "drift.html"
    code, out, err = invoke(
        "monitor",
        "drift",
        "--log",
        logs["drifted"],
        "--model-dir",
        str(small_bundle_dir),
        "--json",
        "--report",
        str(report),
    )
    assert code == 1, err
    result = json.loads(out)
    alerted_inputs = [a for a in result["alerts"] if a in FIELD_NAMES]
    assert alerted_inputs == ["LIMIT_BAL"]
    assert result["inputs"]["LIMIT_BAL"]["status"] == "alert"
    text = report.read_text()
    assert not re.search(r"https?://", text)
    for section in ("PSI per characteristic", "Score distribution", "Top drifting inputs"):
        assert section in text
    assert text.count("data:image/png;base64,") >= 3
    # Text output: a table and the alerts.
    code, out, _ = invoke(
        "monitor", "drift", "--log", logs["drifted"], "--model-dir", str(small_bundle_dir)
    )
    assert code == 1 and "Alerts: LIMIT_BAL" in out


def test_a_small_window_is_flagged_with_its_expected_psi(
    logs: dict, small_bundle_dir: Path
) -> None:
    until = (START + timedelta(hours=40)).isoformat()
    code, out, err = invoke(
        "monitor",
        "drift",
        "--log",
        logs["plain"],
        "--model-dir",
        str(small_bundle_dir),
        "--json",
        "--since",
        START.isoformat(),
        "--until",
        until,
    )
    assert code in (0, 1), err  # at n = 40 a chance alert is what the flag warns about
    result = json.loads(out)
    assert result["n"] == 40 and result["window_too_small"] is True
    assert result["min_rows"] > 40 and "window too small" in err
    bins = result["inputs"]["LIMIT_BAL"]["bins"]
    assert result["inputs"]["LIMIT_BAL"]["expected_psi"] == pytest.approx(
        (bins - 1) * (1 / 40 + 1 / 3000)
    )


def test_thresholds_are_configurable(
    logs: dict, small_bundle_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANKRISK_DRIFT_WARN_PSI", "0.00001")
    monkeypatch.setenv("BANKRISK_DRIFT_ALERT_PSI", "0.00002")
    code, out, _ = invoke(
        "monitor", "drift", "--log", logs["plain"], "--model-dir", str(small_bundle_dir), "--json"
    )
    assert code == 1 and json.loads(out)["thresholds"] == {"warn": 0.00001, "alert": 0.00002}
    code, _, _ = invoke(
        "monitor",
        "drift",
        "--log",
        logs["plain"],
        "--model-dir",
        str(small_bundle_dir),
        "--warn",
        "5",
        "--alert",
        "9",
    )
    assert code == 0


def test_outcomes_are_idempotent_and_performance_matches_the_metrics(
    logs: dict, tmp_path: Path
) -> None:
    from bankrisk.evaluation.metrics import classification_metrics

    url = f"sqlite:///{tmp_path / 'copy.db'}"
    (tmp_path / "copy.db").write_bytes(Path(logs["plain"].removeprefix("sqlite:///")).read_bytes())
    code, out, err = invoke(
        "monitor", "outcomes", "--log", url, "--data", str(logs["outcomes"]), "--json"
    )
    assert code == 0, err
    first = json.loads(out)
    assert first["matched"] == 2000 and first["unmatched"] == 0 and first["inserted"] == 2000
    code, out, _ = invoke("monitor", "outcomes", "--log", url, "--data", str(logs["outcomes"]))
    assert code == 0 and "0 new, 0 updated, 2,000 unchanged" in out
    parquet = tmp_path / "more.parquet"
    pd.DataFrame({"ID": [1, 2], "default payment next month": [0, 1]}).to_parquet(parquet)
    code, out, _ = invoke("monitor", "outcomes", "--log", url, "--data", str(parquet), "--json")
    assert code == 0 and json.loads(out)["unmatched"] == 2

    report = tmp_path / "perf.html"
    code, out, err = invoke(
        "monitor", "performance", "--log", url, "--json", "--report", str(report)
    )
    assert code == 0, err
    result = json.loads(out)
    store = open_store(url)
    assert store is not None
    pds = np.array([r["pd"] for r in store.read_predictions()])
    expected = classification_metrics(logs["labels"], pds, 0.5)
    for key in ("roc_auc", "brier", "ece", "ks"):
        assert result[key] == pytest.approx(expected[key], abs=1e-12)
    assert result["n"] == 2000
    assert {"grade", "n", "defaults", "mean_pd", "default_rate", "jeffreys_p"} <= set(
        result["grades"][0]
    )
    assert sum(g["n"] for g in result["grades"]) == 2000
    assert [m["month"] for m in result["by_month"]] == ["2026-09", "2026-10", "2026-11"]
    assert set(result["fairness"]["overall"]) == {"SEX", "AGE_BAND", "MARRIAGE", "EDUCATION"}
    assert result["by_model_version"][0]["model_role"] == "champion"
    text = report.read_text()
    assert not re.search(r"https?://", text)
    for section in ("Calibration by grade", "PD back-test", "AUC by month", "Fairness over time"):
        assert section in text
    sex = result["fairness"]["overall"]["SEX"]  # how many customers carry each attribute
    assert f"{sex['customers_with_attribute']:,} of {sex['customers']:,}" in text
    code, out, _ = invoke("monitor", "performance", "--log", url)
    assert code == 0 and "PD back-test per grade" in out


def test_prune(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    store = open_store(url)
    assert store is not None
    from helpers.log_rows import prediction_row

    now = datetime.now(UTC)
    store.insert_predictions([prediction_row(i, when=now - timedelta(days=i)) for i in range(10)])
    prune = ("monitor", "prune", "--log", url, "--older-than", "4.5")
    code, out, err = invoke(*prune, "--dry-run")
    assert code == 0, err
    assert "would delete 5 predictions" in out and len(store.read_predictions()) == 10
    code, out, err = invoke(*prune)  # no terminal to ask on, no --yes: nothing deleted
    assert code == 2 and "not confirmed (--yes deletes" in err
    assert len(store.read_predictions()) == 10
    code, out, err = invoke(*prune, "--yes")
    assert code == 0, err
    assert "deleted 5 predictions" in out and len(store.read_predictions()) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["drift", "--since", "yesterday"], "--since: 'yesterday' is not an ISO 8601 time"),
        (["drift", "--until", "2026-13-01"], "--until: '2026-13-01' is not an ISO 8601 time"),
        (["drift", "--since", "2026-10-01", "--until", "2026-09-01"], "is not before --until"),
        (["drift", "--model-dir", "/nonexistent"], "--model-dir /nonexistent: no such bundle"),
        (["drift", "--log", "off"], "the prediction log is off"),
        (["drift", "--log", "::nonsense::"], "not a SQLAlchemy URL"),
        (["drift", "--log", "sqlite:////nonexistent/x.db"], "no such SQLite file"),
        (
            ["drift", "--log", "postgresql+pg8000://u:pw@127.0.0.1:1/db"],
            "cannot open the prediction log",
        ),
        (["outcomes", "--data", "/nonexistent.csv"], "--data /nonexistent.csv: file not found"),
        (["outcomes", "--data", "{bad_columns}"], "missing a customer id column"),
        (["outcomes", "--data", "{bad_flags}"], "column 'defaulted' must be 0 or 1"),
        (["outcomes", "--data", "{text_file}"], "unsupported file type"),
        (["performance", "--log", "{empty_log}"], "none of the champion rows has an outcome yet"),
        (["prune", "--older-than", "-3"], "--older-than must be a number of days >= 0"),
        (["drift", "--run", "no-such-run"], "no logged predictions (champion rows, run no-such"),
        (["drift", "--by", "fortnight"], "--by 'fortnight': expected one of day, week, month"),
        (["drift", "--by", "day", "--report", "r.html"], "--report shows one window"),
        (
            ["drift", "--since", "2031-01-01"],
            "no logged predictions (champion rows, from 2031-01-01T00:00:00+00:00 to now)",
        ),
        (["performance", "--run", "no-such-run"], "none of the champion rows, run no-such-run"),
        (["drift", "--model-dir", "{bare_bundle}"], "has no reference_distributions"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str],
    message: str,
    logs: dict,
    small_bundle_dir: Path,
    bundle_dir: Path,
    tmp_path: Path,
) -> None:
    bad_columns = tmp_path / "cols.csv"
    bad_columns.write_text("who,defaulted\n1,0\n")
    bad_flags = tmp_path / "flags.csv"
    bad_flags.write_text("customer_id,defaulted\n1,0\n2,yes\n")
    text_file = tmp_path / "x.txt"
    text_file.write_text("hello")
    empty = tmp_path / "empty.db"
    open_store(f"sqlite:///{empty}")
    values = {
        "bad_columns": bad_columns,
        "bad_flags": bad_flags,
        "text_file": text_file,
        "empty_log": f"sqlite:///{empty}",
        "bare_bundle": bundle_dir,  # a bundle without reference bins
    }
    args = [a.format(**values) for a in args]
    if "--log" not in args:
        args += ["--log", logs["plain"]]
    if args[0] == "drift" and "--model-dir" not in args:
        args += ["--model-dir", str(small_bundle_dir)]
    code, out, err = invoke("monitor", *args)
    assert code == 2, (out, err)
    assert message in err, err
    assert "Traceback" not in err + out and len(err.strip().splitlines()) == 1
    assert "pw@" not in err


def test_postgresql_log_pseudonymised_end_to_end(
    pg_url: str, small_bundle_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same commands on a real PostgreSQL server, customer ids stored as salted hashes."""
    monkeypatch.setenv("BANKRISK_PREDICTION_LOG_PSEUDONYMISE", "true")
    monkeypatch.setenv("BANKRISK_PREDICTION_LOG_SALT", "pepper")
    monkeypatch.setenv("BANKRISK_PREDICTION_LOG", pg_url)  # no --log: the setting is used
    store = open_store(pg_url, pseudonymise=True, salt="pepper")
    assert store is not None
    bundle = ModelBundle.load(small_bundle_dir)
    raw, labels = make_raw(600, seed=12)
    ids = [f"C{i:05d}" for i in range(len(raw))]
    log_scored(store, bundle, raw, ids, START)
    assert not {r["customer_id"] for r in store.read_predictions()} & set(ids)
    outcomes = tmp_path / "o.parquet"
    pd.DataFrame({"customer_id": ids, "defaulted": labels}).to_parquet(outcomes)
    code, out, err = invoke("monitor", "outcomes", "--data", str(outcomes), "--json")
    assert code == 0, err
    assert json.loads(out)["matched"] == 600
    code, out, err = invoke("monitor", "performance", "--json")
    assert code == 0, err
    assert json.loads(out)["n"] == 600
    code, out, err = invoke("monitor", "drift", "--model-dir", str(small_bundle_dir), "--json")
    assert code == 0, err
    assert json.loads(out)["n"] == 600
    monkeypatch.setenv("BANKRISK_PREDICTION_LOG_SALT", "")
    code, _, err = invoke("monitor", "performance")
    assert code == 2 and "BANKRISK_PREDICTION_LOG_SALT is empty" in err


def test_a_missing_bundle_says_how_to_train_one(logs: dict, tmp_path: Path) -> None:
    code, _, err = invoke(
        "monitor", "drift", "--log", logs["plain"], "--model-dir", str(tmp_path / "none")
    )
    assert code == 2
    assert "train one with `bankrisk train --data PATH` (or `make run DATA=PATH`)" in err


def _bankrisk_with(setup: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`bankrisk ARGS` in a fresh Python after `setup` (a few lines of code)."""
    code = f"import sys\n{setup}\nfrom bankrisk.cli import main\nmain(sys.argv[1:])\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKRISK_")}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_a_bug_in_monitoring_shows_its_traceback_and_is_not_exit_2(logs: dict) -> None:
    """A ValueError is a bug, not bad input: it is no longer turned into one line and code 2."""
    setup = (
        "import bankrisk.monitoring.performance as performance\n"
        "def broken(store, selection):\n"
        "    raise ValueError('a bug in the back-test')\n"
        "performance.run_performance = broken"
    )
    done = _bankrisk_with(setup, "monitor", "performance", "--log", logs["plain"])
    assert done.returncode == 1, done.stderr
    assert "Traceback" in done.stderr and "ValueError: a bug in the back-test" in done.stderr


def test_a_missing_monitor_library_is_one_line(logs: dict) -> None:
    done = _bankrisk_with(
        "sys.modules['scipy'] = None", "monitor", "performance", "--log", logs["plain"]
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "error: `bankrisk monitor` needs the monitor extra (scipy is missing): "
        "pip install 'bankrisk[monitor]'"
    )

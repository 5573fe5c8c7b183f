"""Fairness in `monitor performance` with optional protected attributes: counted per
attribute and judged on those who carry them, joined from a demographics file by customer id
(pseudonymised as the log), and a failed four-fifths rule that nobody can miss: a FAILED line
with the approval rates, exit code 3 and a metrics file for the alert."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bankrisk.errors import DataError
from bankrisk.monitoring.demographics import load_demographics
from bankrisk.monitoring.fairness_metrics import FAILED, RATIO, fairness_metrics
from bankrisk.monitoring.performance import run_performance
from bankrisk.prediction_log.columns import Selection
from bankrisk.prediction_log.store import PredictionStore, Row, open_store
from helpers.log_rows import prediction_row
from helpers.operations import debian_tool

BANKRISK = str(Path(sys.executable).with_name("bankrisk"))
N = 400  # customers: 0..399


def age_of(i: int) -> int:
    """Half the customers under 25, half 35-44."""
    return 22 if i % 2 == 0 else 40


def decision_of(i: int, unfair: bool) -> str:
    """Unfair: half the under-25s declined, none of the others (ratio 0.5); else a tenth of
    the under-25s (ratio 0.9)."""
    if i % 2:
        return "approve"
    return "decline" if i % (4 if unfair else 20) == 0 else "approve"


def rows(unfair: bool, sex_every: int = 4) -> list[Row]:
    """SEX logged for one customer in `sex_every` only (1 or 2 alternately), MARRIAGE never,
    AGE for every customer."""
    return [
        prediction_row(
            i,
            when=datetime(2026, 1 + i % 2, 3, tzinfo=UTC) + timedelta(minutes=i),
            customer_id=f"C{i}",
            model_role="champion",
            pd=0.1,
            grade="B1",
            decision=decision_of(i, unfair),
            SEX=float(1 + (i // sex_every) % 2) if i % sex_every == 1 else None,
            MARRIAGE=None,
            AGE=float(age_of(i)),
        )
        for i in range(N)
    ]


def store_of(path: Path, unfair: bool, **options: Any) -> PredictionStore:
    store = open_store(f"sqlite:///{path}", **options)
    assert store is not None
    store.insert_predictions(rows(unfair))
    store.upsert_outcomes([(f"C{i}", i % 7 == 0) for i in range(N)], "test")
    return store


def test_each_attribute_counts_who_carries_it_and_is_judged_on_them(tmp_path: Path) -> None:
    store = store_of(tmp_path / "log.db", unfair=False)
    try:
        fairness = run_performance(store, Selection()).fairness
    finally:
        store.close()
    sex, marriage, age = (fairness.overall[a] for a in ("SEX", "MARRIAGE", "AGE_BAND"))
    assert (sex.carried, sex.customers) == (N // 4, N)
    assert set(sex.groups) == {"male", "female"} and "missing" not in sex.groups
    assert sum(g.n for g in sex.groups.values()) == N // 4
    assert (marriage.carried, marriage.groups, marriage.adverse_impact_ratio) == (0, {}, None)
    assert marriage.four_fifths_rule_passed is None  # nobody carries it: not judged
    assert age.carried == N and age.four_fifths_rule_passed is True
    assert fairness.failed == ()
    assert fairness.as_dict()["overall"]["SEX"]["customers_with_attribute"] == N // 4


def write_demographics(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False) if path.suffix == ".csv" else frame.to_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("pseudonymise", [False, True])
def test_demographics_are_joined_by_customer_id_and_take_precedence(
    tmp_path: Path, suffix: str, pseudonymise: bool
) -> None:
    options = {"pseudonymise": True, "salt": "pepper"} if pseudonymise else {}
    store = store_of(tmp_path / "log.db", unfair=False, **options)
    # Every customer's SEX, and MARRIAGE for the first 300 (the log holds none); the file
    # says female (2) for the customers the log calls male.
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(N)],
            "SEX": [2.0] * N,
            "MARRIAGE": [1.0 + i % 2 if i < 300 else None for i in range(N)],
        }
    )
    path = write_demographics(tmp_path / f"demographics{suffix}", frame)
    try:
        joined = load_demographics(path, store.customer_key)
        fairness = run_performance(store, Selection(), joined).fairness
    finally:
        store.close()
    sex, marriage = fairness.overall["SEX"], fairness.overall["MARRIAGE"]
    assert sex.carried == N and list(sex.groups) == ["female"]  # the file's value won
    assert marriage.carried == 300 and set(marriage.groups) == {"married", "single"}
    assert fairness.demographics == str(path)


@pytest.mark.parametrize(
    ("frame", "suffix", "named"),
    [
        (pd.DataFrame({"id": ["C1"], "SEX": [1]}), ".csv", "no customer_id column"),
        (pd.DataFrame({"customer_id": ["C1"], "INCOME": [1]}), ".csv", "none of the columns"),
        (pd.DataFrame({"customer_id": ["C1", "C2"], "SEX": [1, "x"]}), ".csv", "column SEX"),
        (pd.DataFrame({"customer_id": ["C1", "C2"], "AGE": [30, 7]}), ".parquet", "column AGE"),
        (pd.DataFrame({"customer_id": ["C1", "C1"], "SEX": [1, 2]}), ".csv", "ids repeat"),
        (pd.DataFrame({"customer_id": ["C1"], "SEX": [1]}), ".json", "unsupported file type"),
    ],
)
def test_a_bad_demographics_file_is_one_line_naming_the_column(
    tmp_path: Path, frame: pd.DataFrame, suffix: str, named: str
) -> None:
    path = tmp_path / f"d{suffix}"
    if suffix == ".json":
        path.write_text("{}")
    else:
        write_demographics(path, frame.astype({c: object for c in frame.columns}))
    with pytest.raises(DataError) as error:
        load_demographics(path, str)
    message = str(error.value)
    assert named in message and "\n" not in message and str(path) in message


def bankrisk(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKRISK_")}
    return subprocess.run(
        [BANKRISK, "monitor", "performance", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_a_failed_four_fifths_rule_is_a_failed_line_exit_3_and_a_metric(tmp_path: Path) -> None:
    store_of(tmp_path / "log.db", unfair=True).close()
    log = f"sqlite:///{tmp_path / 'log.db'}"
    metrics = tmp_path / "textfile" / "bankrisk_fairness.prom"
    metrics.parent.mkdir()

    done = bankrisk("--log", log, "--metrics-file", str(metrics))
    assert done.returncode == 3, done.stdout + done.stderr
    text = " ".join(done.stdout.split())
    assert (
        "FAILED: the four-fifths rule on AGE_BAND: adverse impact ratio 0.5000 < 0.8 "
        "(approval 50.0% for <25 against 100.0% for 35-44)"
    ) in text
    assert "SEX: 100 of 400 customers carry it" in text
    assert "MARRIAGE: 0 of 400 customers carry it" in text
    exported = metrics.read_text()
    assert f'{FAILED}{{attribute="AGE_BAND"}} 1' in exported
    assert f'{FAILED}{{attribute="SEX"}} 0' in exported
    assert f'{RATIO}{{attribute="AGE_BAND"}} 0.5' in exported
    assert not list(metrics.parent.glob(".*"))  # nothing half-written left beside it

    as_json = bankrisk("--log", log, "--json")
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["fairness"]["four_fifths_rule_failed"] == ["AGE_BAND"]


def test_a_fair_window_exits_0_without_a_failed_line(tmp_path: Path) -> None:
    store_of(tmp_path / "log.db", unfair=False).close()
    done = bankrisk("--log", f"sqlite:///{tmp_path / 'log.db'}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAILED" not in done.stdout and "AGE_BAND: 400 of 400 customers carry it" in " ".join(
        done.stdout.split()
    )


def test_bad_options_are_exit_2_with_one_line(tmp_path: Path) -> None:
    store_of(tmp_path / "log.db", unfair=False).close()
    log = f"sqlite:///{tmp_path / 'log.db'}"
    missing = bankrisk("--log", log, "--demographics", str(tmp_path / "none.csv"))
    assert missing.returncode == 2 and "file not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    (tmp_path / "d.csv").write_text("customer_id,MARRIAGE\nC1,7\n")
    bad = bankrisk("--log", log, "--demographics", str(tmp_path / "d.csv"))
    assert bad.returncode == 2 and "column MARRIAGE" in bad.stderr
    wrong = bankrisk("--log", log, "--metrics-file", str(tmp_path / "metrics.txt"))
    assert wrong.returncode == 2 and "must end in .prom" in wrong.stderr


def test_the_metrics_are_valid_exposition_text(tmp_path: Path) -> None:
    store = store_of(tmp_path / "log.db", unfair=True)
    try:
        fairness = run_performance(store, Selection()).fairness
    finally:
        store.close()
    text = fairness_metrics(fairness, now=1_700_000_000.0)
    proc = subprocess.run(
        [str(debian_tool("promtool")), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

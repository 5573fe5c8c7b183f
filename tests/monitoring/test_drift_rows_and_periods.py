"""Drift reads the right rows (the champion's by default, a role, a version, a run) and
follows them over time (`--by`), in bounded chunks, on the fixed log of
`helpers/monitoring_figures.py`: 6,000 customers from January to May, the second half (from
early March) with LIMIT_BAL tripled and PAY_0 two months later."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.cli import app
from bankrisk.monitoring.drift import run_drift, run_drift_over_time
from bankrisk.prediction_log.columns import Selection, read_columns
from bankrisk.prediction_log.store import PredictionStore
from bankrisk.schema import FIELD_NAMES
from helpers.factories import make_raw
from helpers.log_rows import scored_rows
from helpers.monitoring_figures import build_log

SHIFTED = {"LIMIT_BAL", "PAY_0"}


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PredictionStore, Path]]:
    """The fixed log, plus a shadow model's answers in January on shifted customers."""
    store, model_dir = build_log(tmp_path_factory.mktemp("drift-rows"))
    bundle = ModelBundle.load(model_dir)
    raw, _ = make_raw(1500, seed=3)
    raw[:, FIELD_NAMES.index("LIMIT_BAL")] *= 3
    start = datetime(2026, 1, 2, tzinfo=UTC)
    ids = [f"S{i}" for i in range(len(raw))]
    store.insert_predictions(scored_rows(bundle, raw, ids, start, timedelta(minutes=10), "shadow"))
    yield store, model_dir
    store.close()


def inputs_alerting(alerts: tuple[str, ...] | list[str]) -> set[str]:
    return {a for a in alerts if a in FIELD_NAMES}


def test_shadow_rows_are_left_out_unless_asked_for(log: tuple[PredictionStore, Path]) -> None:
    store, model_dir = log
    january = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    champion = run_drift(store, model_dir, Selection(*january), 0.1, 0.25)
    assert champion.n == 1488 and inputs_alerting(champion.alerts) == set()
    # Every role: the shadow's shifted customers blend into the champion's.
    every = run_drift(store, model_dir, Selection(*january, role=None), 0.1, 0.25)
    assert every.n == 1488 + 1500 and "feature:utilization_1" in every.alerts
    assert every.inputs["LIMIT_BAL"].psi > 5 * champion.inputs["LIMIT_BAL"].psi
    shadow = run_drift(store, model_dir, Selection(*january, role="shadow"), 0.1, 0.25)
    assert shadow.n == 1500 and "LIMIT_BAL" in shadow.alerts
    assert champion.rows == (
        "champion rows, from 2026-01-01T00:00:00+00:00 to 2026-02-01T00:00:00+00:00"
    )


def test_a_version_or_run_selects_its_rows(log: tuple[PredictionStore, Path]) -> None:
    store, model_dir = log
    assert run_drift(store, model_dir, Selection(version="7"), 0.1, 0.25).n == 6000
    assert run_drift(store, model_dir, Selection(run="req-champion-5"), 0.1, 0.25).n == 1


def test_drift_by_month_alerts_on_the_shifted_inputs_only_when_they_shift(
    log: tuple[PredictionStore, Path],
) -> None:
    store, model_dir = log
    result = run_drift_over_time(store, model_dir, Selection(), "month", 0.1, 0.25)
    months = [p.period for p in result.periods]
    assert months == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
    alerting = {p.period: inputs_alerting(p.result.alerts) for p in result.periods}
    assert alerting["2026-01"] == alerting["2026-02"] == set()
    assert alerting["2026-04"] == alerting["2026-05"] == SHIFTED
    assert sum(p.result.n for p in result.periods) == 6000
    features = {a for p in result.periods[:2] for a in p.result.alerts if a.startswith("feature:")}
    assert features == set()  # nothing built from untouched inputs alerts either


def test_a_period_is_the_same_as_its_window(log: tuple[PredictionStore, Path]) -> None:
    store, model_dir = log
    by_week = run_drift_over_time(store, model_dir, Selection(), "week", 0.1, 0.25)
    week = by_week.periods[3]
    monday = datetime.fromisoformat(week.period).replace(tzinfo=UTC)
    assert monday.weekday() == 0
    alone = run_drift(store, model_dir, Selection(monday, monday + timedelta(days=7)), 0.1, 0.25)
    assert week.result.n == alone.n
    assert week.result.inputs["LIMIT_BAL"].psi == alone.inputs["LIMIT_BAL"].psi
    assert week.result.features == alone.features


def test_rows_arrive_in_bounded_chunks(log: tuple[PredictionStore, Path]) -> None:
    store, _ = log
    chunks = list(read_columns(store, ["LIMIT_BAL", "grade"], Selection(), chunk_rows=1000))
    assert [len(c["LIMIT_BAL"]) for c in chunks] == [1000] * 6
    assert chunks[0]["LIMIT_BAL"].dtype == np.float64 and chunks[0]["grade"].dtype == object


def test_the_command_by_month(log: tuple[PredictionStore, Path]) -> None:
    store, model_dir = log
    args = ["monitor", "drift", "--log", store.url, "--model-dir", str(model_dir), "--by", "month"]
    shown = CliRunner().invoke(app, args)
    assert shown.exit_code == 1, shown.output  # the latest month alerts
    assert "PSI by month (champion rows)" in shown.output and "2026-05" in shown.output
    as_json = CliRunner().invoke(app, [*args, "--json"])
    data = json.loads(as_json.stdout)
    assert data["periods"][0]["period"] == "2026-01"
    assert data["periods"][-1]["characteristics"]["LIMIT_BAL"]["status"] == "alert"
    assert data["rows"] == "champion rows"


def test_the_arrow_reader_and_sqlalchemy_read_the_same(log: tuple[PredictionStore, Path]) -> None:
    """SQLite and PostgreSQL are read through their Arrow drivers; other databases through
    SQLAlchemy: both give the same arrays (NULL as NaN)."""
    from sqlalchemy import func, select

    from bankrisk.prediction_log.columns import _read_sqlite_arrow, _read_through_sqlalchemy
    from bankrisk.prediction_log.store import predictions

    store, _ = log
    c = predictions.c
    nothing = func.nullif(c.latency_ms, 2.0).label("missing")  # every latency is 2.0: NULL
    query = select(c.pd, c.latency_ms, nothing, c.grade).where(c.model_role == "shadow")
    arrow = list(_read_sqlite_arrow(store, query, 3, 1000))
    rows = list(_read_through_sqlalchemy(store, query, 3, 1000))
    for name in ("pd", "latency_ms", "missing", "grade"):
        a = np.concatenate([chunk[name] for chunk in arrow])
        b = np.concatenate([chunk[name] for chunk in rows])
        assert a.dtype == b.dtype and len(a) == 1500
        assert np.array_equal(a, b, equal_nan=a.dtype == np.float64)
    assert np.isnan(np.concatenate([chunk["missing"] for chunk in arrow])).all()

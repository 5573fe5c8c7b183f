"""`bankrisk monitor drift-sql`: the drift query generated from the bundle equals `bankrisk
monitor drift` to 1e-9 (the PSI and n of every input, `pd` and `score`): its BigQuery rendering
transpiled by sqlglot and run on DuckDB over the rows of a SQLite log, and its PostgreSQL
rendering run on the same rows in a PostgreSQL log. Then the window, role, version and
duplicate filters, the INSERT and the BigQuery alert script, and bad input."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot
from sqlalchemy import select, text
from typer.testing import CliRunner

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.cli import app
from bankrisk.monitoring.drift_sql import (
    DriftBins,
    Parameter,
    Window,
    bigquery_alert_script,
    bins_from_bundle,
    create_table,
    drift_select,
    insert_results,
    render,
    results_schema,
)
from bankrisk.prediction_log.pubsub_export import bigquery_schema
from bankrisk.prediction_log.store import COLUMNS, open_store, predictions
from bankrisk.schema import FIELD_NAMES
from helpers.factories import make_raw
from helpers.log_rows import scored_rows

START = datetime(2026, 9, 1, tzinfo=UTC)
WARN, ALERT = 0.10, 0.25
runner = CliRunner()


def logged_rows(bundle: ModelBundle) -> list[tuple[Any, ...]]:
    """1,200 champion rows, hourly from START: 600 as trained, then 600 with LIMIT_BAL
    tripled and PAY_0 two months later (so some bins empty and some PSIs in alert); a few
    missing and NaN inputs; and 60 shadow rows of wild values that no query may count."""
    raw, _ = make_raw(1200, seed=23)
    shifted = raw.copy()
    shifted[600:, FIELD_NAMES.index("LIMIT_BAL")] *= 3
    shifted[600:, FIELD_NAMES.index("PAY_0")] = np.minimum(
        shifted[600:, FIELD_NAMES.index("PAY_0")] + 2, 8
    )
    ids = [str(70_000 + i) for i in range(len(raw))]
    rows = [list(r) for r in scored_rows(bundle, shifted, ids, START)]
    for i, name, value in ((3, "AGE", None), (5, "BILL_AMT1", math.nan), (700, "PAY_AMT2", None)):
        rows[i][COLUMNS.index(name)] = value
    shadow = [list(r) for r in scored_rows(bundle, raw[:60], ids[:60], START, role="shadow")]
    for row in shadow:
        row[COLUMNS.index("LIMIT_BAL")] *= 10
        row[COLUMNS.index("pd")] = 0.999
    return [tuple(r) for r in rows + shadow]


@pytest.fixture(scope="module")
def rows(small_bundle_dir: Path) -> list[tuple[Any, ...]]:
    return logged_rows(ModelBundle.load(small_bundle_dir))


@pytest.fixture(scope="module")
def sqlite_log(rows: list[tuple[Any, ...]], tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('drift-sql') / 'log.db'}"
    store = open_store(url)
    assert store is not None
    store.insert_predictions(rows)
    store.close()
    return url


def copy_to_duckdb(log_url: str, table: str = "predictions") -> duckdb.DuckDBPyConnection:
    """The log's rows in a DuckDB table made from the BigQuery table's schema."""
    store = open_store(log_url)
    assert store is not None
    with store.engine.connect() as connection:
        rows = [tuple(r) for r in connection.execute(select(predictions))]
    store.close()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(render(create_table(bigquery_schema(), table), "duckdb"))
    frame = pd.DataFrame(rows, columns=[c.name for c in predictions.columns])  # noqa: F841
    con.execute(f"INSERT INTO {table} SELECT * FROM frame")  # DuckDB reads the local frame
    return con


@pytest.fixture(scope="module")
def duck(sqlite_log: str) -> Iterator[duckdb.DuckDBPyConnection]:
    con = copy_to_duckdb(sqlite_log)
    yield con
    con.close()


@pytest.fixture(scope="module")
def bins(small_bundle_dir: Path) -> DriftBins:
    return bins_from_bundle(small_bundle_dir)


def monitor_drift(log: str, model_dir: Path, *window: str) -> dict[str, dict[str, Any]]:
    """`bankrisk monitor drift --json`: {characteristic: {psi, n}} for inputs, pd, score."""
    result = runner.invoke(
        app, ["monitor", "drift", "--log", log, "--model-dir", str(model_dir), "--json", *window]
    )
    assert result.exit_code in (0, 1), result.stderr
    report = json.loads(result.stdout)
    out = {name: report["inputs"][name] for name in report["inputs"]}
    out.update(pd=report["pd"], score=report["score"])
    return out


def on_duckdb(
    con: duckdb.DuckDBPyConnection, query: Any, params: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """The BigQuery rendering, transpiled to DuckDB by sqlglot, run; rows by characteristic."""
    bigquery = render(query, "bigquery")
    (duck_sql,) = sqlglot.transpile(bigquery, read="bigquery", write="duckdb")
    cursor = con.execute(duck_sql, params or {})
    names = [d[0] for d in cursor.description]
    return {
        row[names.index("characteristic")]: dict(zip(names, row, strict=True))
        for row in cursor.fetchall()
    }


def same(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> bool:
    """The same figures (PSI to 1e-12: the order of a SQL SUM is the engine's)."""
    return list(a) == list(b) and all(
        (a[k]["n"], a[k]["status"]) == (b[k]["n"], b[k]["status"])
        and (a[k]["psi"] is None) == (b[k]["psi"] is None)
        and (a[k]["psi"] is None or abs(a[k]["psi"] - b[k]["psi"]) <= 1e-12)
        for k in a
    )


def assert_equal(sql_rows: dict[str, dict[str, Any]], python: dict[str, dict[str, Any]]) -> None:
    assert list(sql_rows) == list(python)  # inputs in FIELD_NAMES order, then pd, score
    for name, expected in python.items():
        got = sql_rows[name]
        assert got["n"] == expected["n"], name
        if expected["psi"] is None:  # no rows: NaN in Python, NULL in SQL
            assert got["psi"] is None, name
        else:
            assert got["psi"] == pytest.approx(expected["psi"], abs=1e-9, rel=0), name
        assert got["status"] == expected["status"], name


def test_bigquery_sql_on_duckdb_equals_monitor_drift(
    duck: duckdb.DuckDBPyConnection, bins: DriftBins, sqlite_log: str, small_bundle_dir: Path
) -> None:
    python = monitor_drift(sqlite_log, small_bundle_dir)
    rows = on_duckdb(duck, drift_select(bins, warn=WARN, alert=ALERT))
    assert_equal(rows, python)
    assert len(rows) == len(FIELD_NAMES) + 2
    # the shift is seen: not a comparison of zeros
    assert rows["PAY_0"]["status"] == "alert" and rows["LIMIT_BAL"]["psi"] > 0.05
    assert rows["SEX"]["status"] == "ok" and rows["AGE"]["n"] == 1199
    assert {r["model_version"] for r in rows.values()} == {bins.model_version}


def test_postgres_sql_on_the_postgres_log_equals_monitor_drift(
    pg_url: str, rows: list[tuple[Any, ...]], small_bundle_dir: Path, bins: DriftBins
) -> None:
    store = open_store(pg_url)
    assert store is not None
    store.insert_predictions(rows)  # NaN stays NaN in PostgreSQL
    python = monitor_drift(pg_url, small_bundle_dir)
    query = render(drift_select(bins, warn=WARN, alert=ALERT, dedupe=False), "postgres")
    with store.engine.connect() as connection:
        result = connection.execute(text(query))
        found = {r.characteristic: dict(r._mapping) for r in result}
    store.close()
    assert_equal(found, python)
    assert found["BILL_AMT1"]["n"] == 1199  # the NaN left out, as Python leaves it out


def test_the_window_as_literals_parameters_and_lookback(
    duck: duckdb.DuckDBPyConnection, bins: DriftBins, sqlite_log: str, small_bundle_dir: Path
) -> None:
    since, until = START + timedelta(hours=300), START + timedelta(hours=900)
    python = monitor_drift(
        sqlite_log, small_bundle_dir, "--since", since.isoformat(), "--until", until.isoformat()
    )
    assert python["LIMIT_BAL"]["n"] == 600
    literal = on_duckdb(
        duck, drift_select(bins, window=Window(since, until), warn=WARN, alert=ALERT)
    )
    assert_equal(literal, python)
    assert literal["pd"]["window_start"] == since and literal["pd"]["window_end"] == until
    named = drift_select(
        bins, window=Window(Parameter("since"), Parameter("until")), warn=WARN, alert=ALERT
    )
    assert "@since" in render(named, "bigquery")
    assert_equal(on_duckdb(duck, named, {"since": since, "until": until}), python)
    scheduled = drift_select(
        bins,
        window=Window(until=Parameter("run_time"), lookback=timedelta(hours=600)),
        warn=WARN,
        alert=ALERT,
    )
    assert "TIMESTAMP_SUB(CAST(@run_time AS TIMESTAMP), INTERVAL 2160000 SECOND)" in render(
        scheduled, "bigquery"
    )
    assert_equal(on_duckdb(duck, scheduled, {"run_time": until}), python)


def test_an_empty_window_gives_n_0_and_no_psi(
    duck: duckdb.DuckDBPyConnection, bins: DriftBins
) -> None:
    window = Window(START - timedelta(days=30), START - timedelta(days=29))
    rows = on_duckdb(duck, drift_select(bins, window=window, warn=WARN, alert=ALERT))
    assert len(rows) == len(FIELD_NAMES) + 2
    assert {(r["n"], r["psi"], r["status"]) for r in rows.values()} == {(0, None, "ok")}


def test_role_version_and_duplicate_filters(sqlite_log: str, bins: DriftBins) -> None:
    """Shadow rows, another version's rows and at-least-once duplicates change nothing."""
    con = copy_to_duckdb(sqlite_log)
    query = drift_select(bins, warn=WARN, alert=ALERT)
    before = on_duckdb(con, query)
    con.execute("DELETE FROM predictions WHERE model_role <> 'champion'")
    assert same(on_duckdb(con, query), before)
    # a copy of 100 rows with their ids (a re-published batch), then 100 of an older version
    con.execute("INSERT INTO predictions SELECT * FROM predictions WHERE id <= 100")
    con.execute(
        "INSERT INTO predictions SELECT * REPLACE (id + 100000 AS id, '0' AS model_version, "
        "LIMIT_BAL * 50 AS LIMIT_BAL) FROM predictions WHERE id <= 50 AND id > 0"
    )
    versioned = drift_select(
        bins, window=Window(model_version=bins.model_version), warn=WARN, alert=ALERT
    )
    assert same(on_duckdb(con, versioned), before)
    undeduped = on_duckdb(con, drift_select(bins, warn=WARN, alert=ALERT, dedupe=False))
    assert undeduped["SEX"]["n"] == before["SEX"]["n"] + 200  # 100 copies, 100 older
    con.close()


def test_insert_appends_the_rows_to_the_results_table(
    duck: duckdb.DuckDBPyConnection, bins: DriftBins
) -> None:
    query = drift_select(
        bins, window=Window(until=START + timedelta(days=400)), warn=WARN, alert=ALERT
    )
    con = duck.cursor()
    con.execute(render(create_table(results_schema(), "drift_results"), "duckdb"))
    (insert,) = sqlglot.transpile(
        render(insert_results(query, "drift_results"), "bigquery"), read="bigquery", write="duckdb"
    )
    con.execute(insert)
    cursor = con.execute("SELECT * FROM drift_results")
    names = [d[0] for d in cursor.description]
    stored = {r[4]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}
    assert names == [c["name"] for c in results_schema()]
    assert same(stored, on_duckdb(duck, query))
    con.execute("DROP TABLE drift_results")


def test_the_bigquery_script_appends_then_raises_naming_the_alerts(bins: DriftBins) -> None:
    window = Window(until=Parameter("run_time"), lookback=timedelta(hours=24))
    query = drift_select(
        bins, table="my-project.bankrisk.predictions", window=window, warn=WARN, alert=ALERT
    )
    script = bigquery_alert_script(query, "my-project.bankrisk.drift_results", bins, window.until)
    lines = script.splitlines()
    assert lines[0] == "DECLARE alerts STRING;"
    assert lines[1].startswith("INSERT INTO `my-project`.`bankrisk`.`drift_results` (")
    assert "FROM `my-project`.`bankrisk`.`predictions`" in script
    assert lines[-3:] == [
        "IF alerts IS NOT NULL THEN",
        '  RAISE USING MESSAGE = CONCAT("bankrisk drift alert: ", alerts);',
        "END IF;",
    ]
    assert (
        "WHERE window_end = CAST(@run_time AS TIMESTAMP) AND model_version = "
        f"'{bins.model_version}' AND status = 'alert'" in script
    )
    # the statement BigQuery runs parses as BigQuery SQL
    statement = script.split(";\n")[1]
    assert sqlglot.parse_one(statement, read="bigquery").key == "insert"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["monitor", "drift-sql", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_command_prints_each_dialect_and_the_schemas(
    small_bundle_dir: Path, bins: DriftBins, duck: duckdb.DuckDBPyConnection
) -> None:
    for dialect in ("bigquery", "postgres", "duckdb"):
        code, out, err = invoke("--model-dir", str(small_bundle_dir), "--dialect", dialect)
        assert code == 0, err
        assert out == render(drift_select(bins, warn=WARN, alert=ALERT), dialect) + ";\n"  # type: ignore[arg-type]
    code, out, _ = invoke("--model-dir", str(small_bundle_dir), "--dialect", "duckdb")
    rows = duck.execute(out).fetchall()
    assert len(rows) == len(FIELD_NAMES) + 2
    code, out, _ = invoke("--schema", "predictions")
    assert code == 0 and json.loads(out) == bigquery_schema()
    assert [f["name"] for f in bigquery_schema()] == [c.name for c in predictions.columns]
    code, out, _ = invoke("--schema", "results")
    assert code == 0 and [f["name"] for f in json.loads(out)] == [
        "window_start", "window_end", "model_name", "model_version", "characteristic", "n",
        "psi", "status",
    ]  # fmt: skip
    code, out, err = invoke(
        "--model-dir", str(small_bundle_dir), "--table", "p-1.ds.predictions",
        "--until", "@run_time", "--lookback-hours", "24", "--insert-into", "p-1.ds.drift_results",
        "--fail-on-alert", "--warn", "0.2", "--alert", "0.3",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("DECLARE alerts STRING;\nINSERT INTO `p-1`.`ds`.`drift_results`")
    assert "INTERVAL 86400 SECOND" in out and "CAST('0.3' AS FLOAT64)" in out


def test_thresholds_default_to_the_settings(
    small_bundle_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANKRISK_DRIFT_WARN_PSI", "0.05")
    monkeypatch.setenv("BANKRISK_DRIFT_ALERT_PSI", "0.5")
    code, out, _ = invoke("--model-dir", str(small_bundle_dir))
    assert code == 0 and "psi < CAST('0.05' AS FLOAT64)" in out and "CAST('0.5' AS FLOAT64)" in out


def test_bad_input_is_one_line_and_exit_code_2(
    small_bundle_dir: Path, bundle_dir: Path, tmp_path: Path
) -> None:
    assert "reference_distributions" not in json.loads((bundle_dir / "metadata.json").read_text())
    broken = tmp_path / "broken"
    shutil.copytree(small_bundle_dir, broken)
    (broken / "model.npz").write_bytes(b"not the sealed file")
    good = ["--model-dir", str(small_bundle_dir)]
    cases = [
        (["--model-dir", str(tmp_path / "none")], "no such bundle folder"),
        (["--model-dir", str(bundle_dir)], "has no reference_distributions"),
        (["--model-dir", str(broken)], "model.npz"),
        ([*good, "--dialect", "mysql"], "--dialect 'mysql': expected one of bigquery"),
        ([*good, "--warn", "0.3", "--alert", "0.2"], "need 0 < warn < alert"),
        ([*good, "--since", "yesterday"], "--since: 'yesterday' is not an ISO 8601 time"),
        ([*good, "--since", "2026-02-01", "--until", "2026-01-01"], "is not before --until"),
        ([*good, "--lookback-hours", "24"], "a lookback needs the window's end"),
        ([*good, "--until", "@run-time"], "a parameter is @NAME"),
        ([*good, "--table", "a.b.c.d"], "expected TABLE, DATASET.TABLE or PROJECT.DATASET.TABLE"),
        ([*good, "--dialect", "postgres", "--fail-on-alert"], "--fail-on-alert is a BigQuery"),
        (["--schema", "outcomes"], "--schema 'outcomes': expected predictions or results"),
    ]
    for args, message in cases:
        code, out, err = invoke(*args)
        assert code == 2, (args, out, err)
        assert message in err and "Traceback" not in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err

"""A Spark run recorded (`bankrisk score --engine spark --record`) and monitored on Spark
(`bankrisk monitor drift|performance --engine spark`) gives what the same runs recorded in
the SQL log (`bankrisk score --log`) give: the same rows, and the same drift and performance
figures to 1e-9.

Two runs of 3,000 customers of the shared data, a month apart: as they are, and shifted
(LIMIT_BAL tripled, PAY_0 two months later), scored locally into a SQLite log and on Spark
(`local[2]`) into a run record. The bundle is the test bundle with reference bins of other
rows of the shared data, so that the untouched run does not drift. Needs Java 17 (skipped
otherwise, as tests/portfolio/test_spark.py); one Spark session serves the module."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.cli import app
from bankrisk.data.load import load_dataset
from bankrisk.monitoring.reference import reference_profiles
from bankrisk.monitoring.spark_monitor import record_performance
from bankrisk.prediction_log.columns import Selection
from bankrisk.prediction_log.store import COLUMNS, open_store
from bankrisk.schema import FIELD_NAMES, ID_COLUMN, TARGET
from helpers.monitoring_figures import differences

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ROWS = 3000
RUNS = {"base": "2026-03-31T00:00:00+00:00", "shifted": "2026-04-30T00:00:00+00:00"}
SHIFTED_INPUTS = {"LIMIT_BAL", "PAY_0"}


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    from bankrisk.portfolio.spark import java_home, spark_session
    from helpers.system_deps import install_system_deps

    if java_home() is None:
        install_system_deps()
    if java_home() is None:
        pytest.skip("Java 17 is not installed (see tests/portfolio/test_spark.py)")
    session = spark_session("local[2]", "bankrisk-tests")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session  # the CLI's commands get this session (getOrCreate); stopped at exit


@pytest.fixture(scope="module")
def shared(shared_csv: Path) -> pd.DataFrame:
    return load_dataset(shared_csv)


@pytest.fixture(scope="module")
def model_dir(
    bundle_dir: Path, shared: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The test bundle with reference bins of 12,000 other customers of the shared data."""
    bundle = ModelBundle.load(bundle_dir)
    raw = shared[list(FIELD_NAMES)].to_numpy(dtype=np.float64)[ROWS : ROWS + 12_000]
    names = [f["name"] for f in bundle.describe()["features"]]
    features = bundle.features(raw)
    bundle.metadata["reference_distributions"] = reference_profiles(
        {
            **{name: raw[:, j] for j, name in enumerate(FIELD_NAMES)},
            **{f"feature:{n}": features[:, i] for i, n in enumerate(names)},
            "probability_of_default": bundle.predict_pd(raw),
        }
    )
    bundle.metadata["data_fingerprint"]["dev_rows"] = len(raw)
    directory = tmp_path_factory.mktemp("shared-bundle")
    bundle.save(directory)
    return directory


@pytest.fixture(scope="module")
def runs(
    spark: SparkSession,
    shared: pd.DataFrame,
    model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Both runs scored locally into a SQLite log and on Spark into a run record, and the
    customers' outcomes ingested into the log."""
    folder = tmp_path_factory.mktemp("spark-monitoring")
    base = shared.head(ROWS)[[ID_COLUMN, *FIELD_NAMES]]
    shifted = base.copy()
    shifted["LIMIT_BAL"] *= 3
    shifted["PAY_0"] = np.minimum(shifted["PAY_0"] + 2, 8)
    url, record = f"sqlite:///{folder / 'log.db'}", str(folder / "record")
    common = ["score", "--model-dir", str(model_dir)]
    for name, frame in (("base", base), ("shifted", shifted)):
        data = folder / f"{name}.csv"
        frame.to_csv(data, index=False)
        run = ["--input", str(data), "--run-id", name, "--as-of", RUNS[name]]
        code, out = invoke(
            *common, *run, "--output", str(folder / f"{name}-local.csv"), "--log", url
        )
        assert code == 0, out
        code, out = invoke(
            *common, *run, "--engine", "spark", "--output", str(folder / f"{name}-spark"),
            "--record", record,
        )  # fmt: skip
        assert code == 0, out
        assert f"recorded as run {name}" in out and f"--engine spark --record {record}" in out
    outcomes = folder / "outcomes.csv"
    shared.head(ROWS)[[ID_COLUMN, TARGET]].to_csv(outcomes, index=False)
    code, out = invoke("monitor", "outcomes", "--log", url, "--data", str(outcomes))
    assert code == 0, out
    return {"url": url, "record": record, "folder": folder, "model_dir": str(model_dir)}


def test_the_record_holds_the_rows_the_log_holds(runs: dict[str, Any]) -> None:
    store = open_store(runs["url"])
    assert store is not None
    logged = pd.DataFrame(store.read_predictions()).drop(columns="id")
    store.close()
    logged["reason_codes"] = [json.dumps(r, separators=(",", ":")) for r in logged["reason_codes"]]
    recorded = pq.read_table(runs["record"]).to_pandas()
    assert list(recorded.columns) == list(COLUMNS)
    assert len(recorded) == len(logged) == 2 * ROWS
    keys = ["request_id", "customer_id"]
    recorded = recorded.sort_values(keys).reset_index(drop=True)
    logged = logged[list(COLUMNS)].sort_values(keys).reset_index(drop=True)
    np.testing.assert_allclose(recorded.pop("pd"), logged.pop("pd"), rtol=0, atol=1e-12)
    assert recorded["time"].dt.tz is not None
    logged["time"] = pd.to_datetime(logged["time"], utc=True).astype(recorded["time"].dtype)
    logged["latency_ms"] = logged["latency_ms"].astype("float64")  # None: no latency
    pd.testing.assert_frame_equal(recorded, logged, check_dtype=False)


def monitor(runs: dict[str, Any], command: str, *options: str) -> tuple[tuple[int, Any], ...]:
    """`bankrisk monitor COMMAND OPTIONS --json` on the log (role portfolio) and on Spark
    (the record): each exit code and parsed output."""
    model = ["--model-dir", runs["model_dir"]] if command == "drift" else []
    local = invoke(
        "monitor", command, *model, *options, "--json", "--log", runs["url"], "--role", "portfolio"
    )
    spark_side = ["--engine", "spark", "--record", runs["record"], "--master", "local[2]"]
    if command == "performance":
        spark_side += ["--log", runs["url"]]  # the outcomes
    on_spark = invoke("monitor", command, *model, *options, "--json", *spark_side)
    return tuple(
        (code, json.loads(out) if code in (0, 1, 3) else out) for code, out in (local, on_spark)
    )


@pytest.mark.parametrize("run", ["base", "shifted"])
def test_drift_on_spark_is_the_drift_of_the_log(runs: dict[str, Any], run: str) -> None:
    (code, local), (spark_code, on_spark) = monitor(runs, "drift", "--run", run)
    assert differences(local, on_spark) == []
    assert spark_code == code and on_spark["n"] == ROWS and on_spark["rows"].endswith(f"run {run}")
    alerts = set(on_spark["alerts"])
    if run == "base":
        assert code == 0 and alerts == set(), alerts
        return
    assert code == 1 and alerts >= SHIFTED_INPUTS, alerts
    built = {a for a in alerts if a.startswith("feature:")}
    assert built, alerts  # features built from LIMIT_BAL and PAY_0 move too
    assert alerts - built - SHIFTED_INPUTS <= {"pd", "score"}, alerts


PERIODS = {  # of the runs as of 2026-03-31 (a Tuesday) and 2026-04-30 (a Thursday)
    "day": ["2026-03-31", "2026-04-30"],
    "week": ["2026-03-30", "2026-04-27"],
    "month": ["2026-03", "2026-04"],
}


@pytest.mark.parametrize("by", list(PERIODS))
def test_drift_by_period_on_spark_is_the_log_s(runs: dict[str, Any], by: str) -> None:
    (code, local), (spark_code, on_spark) = monitor(runs, "drift", "--by", by)
    assert differences(local, on_spark) == []
    assert [p["period"] for p in on_spark["periods"]] == PERIODS[by]
    assert spark_code == code == 1  # the latest period is the shifted run


@pytest.mark.parametrize("run", ["shifted", None])
def test_performance_on_spark_is_the_performance_of_the_log(
    runs: dict[str, Any], run: str | None
) -> None:
    """One run, and the whole record: each customer's latest prediction (the shifted run's)."""
    (code, local), (spark_code, on_spark) = monitor(
        runs, "performance", *(["--run", run] if run else [])
    )
    # 3: a protected attribute fails the four-fifths rule over the window (cli/monitor.py).
    verdict = 3 if local["fairness"]["four_fifths_rule_failed"] else 0
    assert code == spark_code == verdict, (local, on_spark)
    assert differences(local, on_spark) == []
    assert on_spark["customers"] == on_spark["n"] == ROWS
    assert on_spark["predictions_logged"] == (ROWS if run else 2 * ROWS)


def test_performance_with_demographics_on_spark_is_the_log_s(
    runs: dict[str, Any], tmp_path: Path
) -> None:
    """A demographics file joined by customer id: the same fairness on Spark as on the log."""
    with sqlite3.connect(runs["url"].removeprefix("sqlite:///")) as connection:
        ids = [i for (i,) in connection.execute("SELECT DISTINCT customer_id FROM predictions")]
    path = tmp_path / "demographics.csv"
    rows = [f"{i},{1 + k % 2},{'' if k % 3 else 2}" for k, i in enumerate(sorted(ids))]
    path.write_text("customer_id,SEX,MARRIAGE\n" + "\n".join(rows) + "\n")
    (code, local), (spark_code, on_spark) = monitor(
        runs, "performance", "--demographics", str(path)
    )
    assert code == spark_code, (local, on_spark)
    assert differences(local, on_spark) == []
    fairness = on_spark["fairness"]
    assert fairness["demographics"] == str(path)
    assert fairness["overall"]["SEX"]["customers_with_attribute"] == ROWS
    assert fairness["overall"]["SEX"]["groups"]["male"]["n"] == ROWS // 2  # the file's


def refused(*args: str) -> str:
    """The one-line error of a command refused with exit code 2."""
    code, out = invoke(*args)
    assert code == 2, out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1, out
    return out


def test_bad_record_options_are_one_line_each(runs: dict[str, Any]) -> None:
    drift = ["monitor", "drift", "--model-dir", runs["model_dir"]]
    spark = [*drift, "--engine", "spark", "--record"]
    nowhere = str(runs["folder"] / "nowhere")
    assert "no such run record" in refused(*spark, nowhere)
    not_a_record = refused(*spark, str(runs["folder"] / "base-spark"))
    assert "not a run record: no column request_id, time, model_name" in not_a_record
    unknown = refused(*spark, runs["record"], "--run", "nope")
    assert "--run nope: no such run in the record" in unknown
    assert "its runs: base, shifted" in unknown
    empty = refused(*spark, runs["record"], "--since", "2030-01-01")
    assert "no rows in the record" in empty and "from 2030-01-01T00:00:00+00:00" in empty
    assert "give --record FOLDER" in refused(*drift, "--engine", "spark")
    assert "--engine spark reads --record" in refused(*spark, runs["record"], "--log", runs["url"])
    assert "monitor it with --engine spark" in refused(*drift, "--record", runs["record"])
    performance = ["monitor", "performance", "--log", runs["url"]]
    assert "give --record FOLDER" in refused(*performance, "--engine", "spark")
    assert "no such run record" in refused(*performance, "--engine", "spark", "--record", nowhere)


def test_score_refuses_mixed_recording_options_and_records_a_run_once(
    runs: dict[str, Any], tmp_path: Path
) -> None:
    source = runs["folder"] / "base.csv"
    score = ["score", "--model-dir", runs["model_dir"], "--input", str(source)]
    out = refused(
        *score, "--output", str(tmp_path / "a"), "--engine", "spark", "--log", runs["url"]
    )
    assert "record a Spark run with --record FOLDER" in out
    out = refused(*score, "--output", str(tmp_path / "b.csv"), "--record", runs["record"])
    assert "record a local run in the prediction log with --log URL" in out
    out = refused(*score, "--output", str(tmp_path / "b.csv"), "--run-id", "x")
    assert "--run-id and --as-of name a run recorded with --log or --record" in out
    again = [*score, "--engine", "spark", "--output", str(tmp_path / "c"), "--run-id", "base"]
    out = refused(*again, "--record", runs["record"])
    assert "--run-id base: that run is already in the record" in out
    assert not (tmp_path / "c").exists()


def test_a_failed_spark_run_records_nothing(runs: dict[str, Any], tmp_path: Path) -> None:
    bad = pd.read_csv(runs["folder"] / "base.csv").head(200)
    bad.loc[50, "AGE"] = -4
    bad.to_csv(tmp_path / "bad.csv", index=False)
    score = ["score", "--engine", "spark", "--model-dir", runs["model_dir"]]
    code, out = invoke(
        *score, "--input", str(tmp_path / "bad.csv"), "--output", str(tmp_path / "out"),
        "--record", runs["record"], "--run-id", "bad-run",
    )  # fmt: skip
    assert code == 2 and "1 invalid row; nothing was written" in out, out
    recorded = pq.read_table(runs["record"], columns=["request_id"])["request_id"]
    assert set(recorded.to_pylist()) == {"base", "shifted"}


def test_performance_by_model_version_on_spark_is_the_log_s(
    runs: dict[str, Any], spark: SparkSession, tmp_path: Path
) -> None:
    """Two model versions in the window: each version's latest predictions are ranked apart
    (the per-version query), here the shifted run relabelled as version 9 on both sides."""
    from pyspark.sql import functions as sf

    log = tmp_path / "log.db"
    shutil.copy(runs["url"].removeprefix("sqlite:///"), log)
    with sqlite3.connect(log) as connection:
        connection.execute(
            "UPDATE predictions SET model_version = '9' WHERE request_id = 'shifted'"
        )
    version = sf.when(sf.col("request_id") == "shifted", "9").otherwise(sf.col("model_version"))
    record = tmp_path / "record"
    spark.read.parquet(runs["record"]).withColumn("model_version", version).write.parquet(
        str(record)
    )
    relabelled = {**runs, "url": f"sqlite:///{log}", "record": str(record)}
    (code, local), (spark_code, on_spark) = monitor(relabelled, "performance")
    # 3: a protected attribute fails the four-fifths rule over the window (cli/monitor.py).
    verdict = 3 if local["fairness"]["four_fifths_rule_failed"] else 0
    assert code == spark_code == verdict, (local, on_spark)
    assert differences(local, on_spark) == []
    assert [v["model_version"] for v in on_spark["by_model_version"]] == ["7", "9"]


def test_outcomes_staged_by_spark_where_pyarrow_has_no_file_system(
    runs: dict[str, Any], spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The staging's fallback (a record on a file system pyarrow lacks) gives the same."""
    store = open_store(runs["url"])
    assert store is not None
    selection = Selection(role="portfolio", run="base")
    expected = record_performance(spark, runs["record"], store, selection).as_dict()

    class NoFileSystem:
        @staticmethod
        def from_uri(uri: str) -> None:
            raise pa.ArrowNotImplementedError(f"no file system for {uri}")

    monkeypatch.setattr(pyarrow.fs, "FileSystem", NoFileSystem)
    assert record_performance(spark, runs["record"], store, selection).as_dict() == expected
    store.close()
    assert sorted(p.name for p in Path(runs["record"]).parent.glob("record.outcomes-*")) == []

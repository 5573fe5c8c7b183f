"""The Spark job in `local[2]`: the local scorer's columns and values, a million-row synthetic
portfolio, bad rows, the spark-submit entry point, and the registered model's `spark_udf`.

Needs Java 17 (Debian's openjdk-17-jre-headless, installed by `make -f deploy/delivery.mk
system-deps` when missing and root; otherwise the tests are skipped saying why). One Spark
session serves every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.data.load import load_dataset
from bankrisk.data.synthesize import synthesize_file
from bankrisk.data.validate import validate_frame
from bankrisk.portfolio import spark_job
from bankrisk.portfolio.local import InvalidRowsError, score_file
from bankrisk.portfolio.spark import java_home, score_with_spark, spark_session
from bankrisk.schema import FIELD_NAMES
from helpers.portfolio import portfolio_frame
from helpers.system_deps import install_system_deps

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from helpers.trained import Trained


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    if java_home() is None:
        install_system_deps()
    if java_home() is None:
        pytest.skip(
            "Java 17 is not installed (no JAVA_HOME, no /usr/lib/jvm/java-17-openjdk-*; "
            "`make -f deploy/delivery.mk system-deps` installs openjdk-17-jre-headless)"
        )
    session = spark_session("local[2]", "bankrisk-tests")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()


def by_id(path: Path, id_column: str) -> pd.DataFrame:
    return pq.read_table(path).to_pandas().set_index(id_column).sort_index()


def assert_frames_equal(spark_out: pd.DataFrame, local_out: pd.DataFrame) -> None:
    assert list(spark_out.columns) == list(local_out.columns)
    assert spark_out.index.equals(local_out.index)
    np.testing.assert_allclose(
        spark_out.pop("probability_of_default"),
        local_out.pop("probability_of_default"),
        rtol=0,
        atol=1e-12,
    )
    pd.testing.assert_frame_equal(spark_out, local_out)


def test_spark_equals_the_local_scorer_on_the_shared_data(
    spark: SparkSession, bundle_dir: Path, shared_csv: Path, tmp_path: Path
) -> None:
    score_file(bundle_dir, shared_csv, tmp_path / "local.parquet")
    summary = score_with_spark(bundle_dir, shared_csv, tmp_path / "spark.parquet", spark=spark)
    assert summary.rows_scored == 24_000 and summary.rows_rejected == 0
    assert sum(summary.decisions.values()) == 24_000
    assert_frames_equal(
        by_id(tmp_path / "spark.parquet", "ID"), by_id(tmp_path / "local.parquet", "ID")
    )
    assert not (tmp_path / "spark.parquet.staging").exists()


def test_spark_scores_a_million_row_synthetic_portfolio(
    spark: SparkSession, bundle_dir: Path, shared_csv: Path, tmp_path: Path
) -> None:
    synthesize_file(shared_csv, tmp_path / "portfolio.parquet", 1_000_000, seed=1)
    summary = score_with_spark(
        bundle_dir, tmp_path / "portfolio.parquet", tmp_path / "scores", spark=spark
    )
    assert summary.rows_scored == 1_000_000
    scores = spark.read.parquet(str(tmp_path / "scores"))
    assert scores.count() == 1_000_000
    low, high = scores.selectExpr(
        "min(probability_of_default)", "max(probability_of_default)"
    ).first()
    assert 0 < low < high < 1


def bad_portfolio(path: Path) -> Path:
    frame = portfolio_frame(300, seed=4)
    frame.loc[10, "PAY_0"] = 12
    frame.loc[20, "AGE"] = 17
    frame.to_parquet(path)
    return path


def test_bad_rows_stop_the_job_before_the_output(
    spark: SparkSession, bundle_dir: Path, tmp_path: Path
) -> None:
    source = bad_portfolio(tmp_path / "in.parquet")
    with pytest.raises(InvalidRowsError) as error:
        score_with_spark(bundle_dir, source, tmp_path / "out", spark=spark)
    message = str(error.value)
    assert "2 invalid rows; nothing was written" in message
    assert "customer_id C-0010: PAY_0: must be between -2 and 9, got 12" in message
    assert "customer_id C-0020: AGE: must be between 18 and 100, got 17" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_skip_invalid_writes_the_bad_rows_aside(
    spark: SparkSession, bundle_dir: Path, tmp_path: Path
) -> None:
    source = bad_portfolio(tmp_path / "in.parquet")
    summary = score_with_spark(bundle_dir, source, tmp_path / "out", skip_invalid=True, spark=spark)
    assert (summary.rows_scored, summary.rows_rejected) == (298, 2)
    rejects = pd.concat(pd.read_csv(p, dtype=str) for p in (tmp_path / "out.rejects").glob("*.csv"))
    rejects = rejects.sort_values("customer_id")
    assert rejects["customer_id"].tolist() == ["C-0010", "C-0020"]
    assert rejects["PAY_0"].iloc[0] == "12.0" and rejects["AGE"].iloc[1] == "17.0"  # as read
    assert list(rejects.columns) == ["customer_id", "reason", *FIELD_NAMES]


def test_spark_submit_entry_point(
    spark: SparkSession, bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    portfolio_frame(100).to_parquet(tmp_path / "in.parquet")
    args = ["--model-dir", str(bundle_dir), "--input", str(tmp_path / "in.parquet")]
    assert spark_job.main([*args, "--output", str(tmp_path / "out")]) == 0  # the active session
    assert "100 rows scored, 0 rejected" in capsys.readouterr().out
    assert spark.read.parquet(str(tmp_path / "out")).count() == 100
    bad = ["--model-dir", str(tmp_path / "nowhere"), "--input", "x", "--output", "y"]
    assert spark_job.main(bad) == 2
    assert "no bundle there" in capsys.readouterr().err


def test_spark_submit_entry_point_records_the_run(
    spark: SparkSession, bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--record` on a cluster as `bankrisk score --engine spark --record` on this machine:
    every scored customer in the record, as the run with its id, date and model version."""
    from bankrisk.bundle.store import read_metadata

    portfolio_frame(50).to_parquet(tmp_path / "in.parquet")
    args = ["--model-dir", str(bundle_dir), "--input", str(tmp_path / "in.parquet")]
    record = ["--record", str(tmp_path / "runs"), "--run-id", "2026-03"]
    when = ["--as-of", "2026-03-31"]
    assert spark_job.main([*args, "--output", str(tmp_path / "out"), *record, *when]) == 0
    rows = pq.read_table(tmp_path / "runs").to_pandas()  # times as UTC, whatever Spark's zone
    assert len(rows) == 50 and set(rows["request_id"]) == {"2026-03"}
    assert {t.isoformat() for t in rows["time"]} == {"2026-03-31T00:00:00+00:00"}
    assert set(rows["model_version"]) == {str(read_metadata(bundle_dir)["version"])}
    capsys.readouterr()
    out = ["--output", str(tmp_path / "out2")]
    assert spark_job.main([*args, *out, "--run-id", "x"]) == 2
    assert "--run-id and --as-of name a run recorded with --record" in capsys.readouterr().err
    assert spark_job.main([*args, *out, *record, "--as-of", "March"]) == 2
    assert "--as-of: 'March' is not an ISO 8601 time" in capsys.readouterr().err


@pytest.mark.slow
def test_spark_udf_on_the_registered_champion_returns_the_pd(
    spark: SparkSession, trained: Trained, shared_csv: Path
) -> None:
    import mlflow.pyfunc
    from pyspark.sql.functions import struct

    mlflow.set_tracking_uri(trained.settings.mlflow_tracking_uri)
    clean = validate_frame(load_dataset(shared_csv)).head(2000)
    frame = spark.createDataFrame(clean[list(FIELD_NAMES)].astype("float64"))
    udf = mlflow.pyfunc.spark_udf(
        spark, "models:/bank-default-risk@champion", result_type="double", env_manager="local"
    )
    # One struct column: the model (no signature) gets the columns by name, not position.
    got = frame.select(udf(struct(*FIELD_NAMES)).alias("pd")).toPandas()["pd"].to_numpy()
    bundle = ModelBundle.load(trained.settings.model_dir)
    expected = bundle.predict_pd(clean[list(FIELD_NAMES)].to_numpy(dtype=np.float64))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert ((got > 0) & (got < 1)).all() and len(np.unique(got)) > 100  # a PD, not a class

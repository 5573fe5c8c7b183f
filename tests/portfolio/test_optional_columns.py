"""A portfolio file without the protected attributes (or EDUCATION), or with empty cells in
them, is scored: the same answers as with them, locally and on Spark. Given, they are still
checked; a model that scores one (AGE with use_age) needs its column and names it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow.parquet as pq
import pytest

from bankrisk.errors import DataError
from bankrisk.features.engineering import FeatureSet
from bankrisk.portfolio.local import InvalidRowsError, score_file
from bankrisk.schema import OPTIONAL, PROTECTED
from helpers.factories import make_bundle
from helpers.portfolio import portfolio_frame

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ID = "customer_id"


def scored(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas().set_index(ID).sort_index()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return portfolio_frame(600, seed=9)


@pytest.fixture(scope="module")
def full_output(
    frame: pd.DataFrame, bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("full")
    frame.to_csv(folder / "in.csv", index=False)
    score_file(bundle_dir, folder / "in.csv", folder / "out.parquet")
    return scored(folder / "out.parquet")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("dropped", [OPTIONAL, PROTECTED, ("SEX",)])
def test_a_file_without_them_scores_alike(
    frame: pd.DataFrame,
    full_output: pd.DataFrame,
    bundle_dir: Path,
    tmp_path: Path,
    suffix: str,
    dropped: tuple[str, ...],
) -> None:
    source = tmp_path / f"in{suffix}"
    smaller = frame.drop(columns=list(dropped))
    smaller.to_csv(source, index=False) if suffix == ".csv" else smaller.to_parquet(source)
    summary = score_file(bundle_dir, source, tmp_path / "out.parquet")
    assert summary.rows_scored == len(frame) and summary.rows_rejected == 0
    pd.testing.assert_frame_equal(scored(tmp_path / "out.parquet"), full_output)
    assert full_output["decision"].nunique() > 1


def test_empty_cells_are_unknown_and_values_still_checked(
    frame: pd.DataFrame, full_output: pd.DataFrame, bundle_dir: Path, tmp_path: Path
) -> None:
    holes = frame.astype({name: "Int64" for name in OPTIONAL}).copy()
    holes.loc[::2, ["SEX", "MARRIAGE"]] = pd.NA
    holes.loc[1::3, "AGE"] = pd.NA
    holes.to_csv(tmp_path / "in.csv", index=False)
    score_file(bundle_dir, tmp_path / "in.csv", tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(scored(tmp_path / "out.parquet"), full_output)

    bad = holes.astype({"MARRIAGE": object})
    bad.loc[5, "SEX"] = 3
    bad.loc[7, "MARRIAGE"] = "single"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InvalidRowsError) as error:
        score_file(bundle_dir, tmp_path / "bad.csv", tmp_path / "bad.parquet")
    message = str(error.value)
    assert "2 invalid rows" in message
    assert "row 6: SEX: must be between 1 and 2, got 3" in message
    assert "row 8: MARRIAGE: not a number: 'single'" in message


def test_a_model_input_column_stays_required(frame: pd.DataFrame, tmp_path: Path) -> None:
    model = tmp_path / "with-age"
    make_bundle(FeatureSet(use_age=True)).save(model)
    frame.drop(columns=["AGE", "SEX"]).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(DataError) as error:
        score_file(model, tmp_path / "in.csv", tmp_path / "out.parquet")
    assert str(error.value).endswith("missing required columns: AGE (AGE: an input of the model)")
    holes = frame.astype({"AGE": "Int64"})
    holes.loc[3, "AGE"] = pd.NA
    holes.drop(columns=["SEX", "MARRIAGE"]).to_csv(tmp_path / "holes.csv", index=False)
    with pytest.raises(InvalidRowsError) as rows:
        score_file(model, tmp_path / "holes.csv", tmp_path / "out.parquet")
    assert "row 4: AGE: missing value (an input of the model)" in str(rows.value)


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    from bankrisk.portfolio.spark import java_home, spark_session

    if java_home() is None:
        pytest.skip("Java 17 is not installed (see tests/portfolio/test_spark.py)")
    session = spark_session("local[2]", "bankrisk-optional")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()


def test_spark_scores_a_file_without_them_as_the_local_scorer(
    spark: SparkSession,
    frame: pd.DataFrame,
    full_output: pd.DataFrame,
    bundle_dir: Path,
    tmp_path: Path,
) -> None:
    from bankrisk.portfolio.spark import score_with_spark

    frame.drop(columns=list(OPTIONAL)).to_parquet(tmp_path / "in.parquet")
    score_with_spark(bundle_dir, tmp_path / "in.parquet", tmp_path / "out", spark=spark)
    out = pd.concat(pq.read_table(p).to_pandas() for p in (tmp_path / "out").glob("*.parquet"))
    out = out.set_index(ID).sort_index()
    pd.testing.assert_frame_equal(out, full_output, check_exact=False, rtol=0, atol=1e-12)


def test_a_recorded_run_logs_them_as_null(
    frame: pd.DataFrame, bundle_dir: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from bankrisk.cli import app
    from bankrisk.prediction_log.store import open_store

    frame.drop(columns=["SEX", "MARRIAGE"]).to_csv(tmp_path / "in.csv", index=False)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    args = ["score", "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "o.csv")]
    result = CliRunner().invoke(app, [*args, "--model-dir", str(bundle_dir), "--log", url])
    assert result.exit_code == 0, result.output
    store = open_store(url)
    assert store is not None
    try:
        rows = store.read_predictions()
    finally:
        store.close()
    assert len(rows) == len(frame)
    assert all(r["SEX"] is None and r["MARRIAGE"] is None for r in rows)
    assert all(r["AGE"] is not None for r in rows)

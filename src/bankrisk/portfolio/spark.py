"""`bankrisk score --engine spark`: the local scorer's chunk scoring as a Spark job.

Each Python worker loads the bundle once (shipped to every executor with `addFile`, so a
local folder works on any cluster) and scores Arrow batches with `mapInArrow`, through the
same `checks.check_chunk` and `columns.ChunkScorer` as `bankrisk score`: the output columns
and values are the local scorer's.

The job writes every row (scores, or the reasons a row was refused) to a staging folder
beside the output, once; then the valid rows go to the output and, with `skip_invalid`, the
refused ones to `<output>.rejects`; without it, any refused row stops the job before the
output is written. Spark has no row order, so a refused row is named by its id.

With a `RunRecord`, the staging also holds what the prediction log would hold of each scored
row (`portfolio.record`), and after the output the run's rows are appended to the record
folder in the log's row layout (`COLUMNS`): Parquet that Spark monitors in place
(`monitoring.spark_monitor`). A job that fails records nothing.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from bankrisk.core.validation import input_rules
from bankrisk.errors import BankRiskError, DataError, MissingBundleError, UsageError
from bankrisk.portfolio.checks import check_chunk
from bankrisk.portfolio.columns import ChunkScorer, output_schema
from bankrisk.portfolio.local import MAX_LISTED, InvalidRowsError, Summary
from bankrisk.portfolio.readers import absent_optional, input_columns
from bankrisk.portfolio.record import (
    FROM_OUTPUT,
    REASONS,
    RECORD_CUSTOMER,
    Run,
    new_run,
    record_columns,
    record_fields,
)
from bankrisk.prediction_log.runs import ROLE
from bankrisk.prediction_log.store import COLUMNS
from bankrisk.schema import FIELD_NAMES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from bankrisk.config import Settings

REJECTED = "rejected"
ROWS_PER_BATCH = 50_000
_SCORERS: dict[str, ChunkScorer] = {}  # per Python worker: the bundle, loaded once


@dataclass(frozen=True)
class RunRecord:
    """Where a Spark run is recorded for monitoring (`--record`): the record folder (any
    file system Spark writes to), the run, and the salt customer ids are pseudonymised with
    as the log does (None: stored as they are)."""

    folder: str
    run: Run
    salt: str | None = None


def run_record(folder: str, run: Run, settings: Settings) -> RunRecord:
    """Where a Spark run is recorded (`--record`), customer ids pseudonymised as the log's
    (BANKRISK_PREDICTION_LOG_PSEUDONYMISE), so that outcomes ingested there join them."""
    pseudonymise = settings.prediction_log_pseudonymise  # Settings require a salt then
    salt = settings.prediction_log_salt.get_secret_value() if pseudonymise else None
    return RunRecord(folder.rstrip("/"), run, salt)


def java_home() -> str | None:
    """JAVA_HOME, else Debian's Java 17 (openjdk-17-jre-headless, any architecture)."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    found = sorted(glob.glob("/usr/lib/jvm/java-17-openjdk-*"))
    return found[0] if found else None


def spark_session(master: str | None = None, app_name: str = "bankrisk-score") -> SparkSession:
    """A Spark session for scoring; `master` None keeps spark-submit's (`local[*]` when run
    as plain Python). Workers run this Python (the one with bankrisk installed)."""
    home = java_home()
    if home is None:
        raise BankRiskError(
            "--engine spark needs Java 17: set JAVA_HOME or install openjdk-17-jre-headless "
            "(make -f deploy/delivery.mk system-deps)"
        )
    os.environ.setdefault("JAVA_HOME", home)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    return (
        builder.config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        # The JVM that a local run starts (under spark-submit the JVM exists already and
        # this is ignored). At 10M rows `monitor performance` streams ranked partitions of
        # tens of MB to the driver while the next is computed, and Spark's default of 1g ran
        # out of heap there (docs/performance.md).
        .config("spark.driver.memory", "2g")
        # A task's result up to this size returns with its status rather than through the
        # block manager, where a failure to fetch it shows only as `TaskResultLost`, not
        # its cause. Spark caps it at spark.rpc.message.maxSize (128 MiB).
        .config("spark.task.maxDirectResultSize", "128m")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ROWS_PER_BATCH))
        # Timestamps in Parquet as the standard UTC instants (not Spark's legacy INT96).
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .getOrCreate()
    )


def combined_schema(id_column: str | None, recording: bool = False) -> pa.Schema:
    """The job's rows: the output columns, the reasons a row was refused (null when
    scored), its input cells as text (null when scored) and, `recording`, the record's
    columns (`record_fields`, null when refused)."""
    schema = output_schema(id_column)
    extra = [
        pa.field(REJECTED, pa.string()),
        *(pa.field(f"input_{n}", pa.string()) for n in FIELD_NAMES),
        *(record_fields() if recording else []),
    ]
    return pa.schema([*schema, *extra])


def _scorer(bundle_path: str) -> ChunkScorer:
    if bundle_path not in _SCORERS:
        from bankrisk.bundle.model_bundle import ModelBundle

        _SCORERS[bundle_path] = ChunkScorer(ModelBundle.load(bundle_path))
    return _SCORERS[bundle_path]


def score_batches(
    bundle_name: str, id_column: str | None, record: RunRecord | None = None
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The `mapInArrow` function: input batches (normalised columns) to `combined_schema`
    (with the record's columns when there is a `record`)."""
    schema = combined_schema(id_column, record is not None)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import SparkFiles

        scorer = _scorer(SparkFiles.get(bundle_name))
        rules = input_rules(scorer.bundle.feature_set)
        for batch in batches:
            checked = check_chunk(pa.Table.from_batches([batch]), id_column, 1, rules)
            if checked.raw.shape[0]:
                scored = scorer.table(checked.raw, checked.ids, id_column)
                nulls = [pa.nulls(scored.num_rows, pa.string())] * (len(FIELD_NAMES) + 1)
                recorded = (
                    record_columns(checked.raw, scored, id_column, record.salt)
                    if record is not None
                    else []
                )
                yield from pa.Table.from_arrays(
                    [*scored.columns, *nulls, *recorded], schema=schema
                ).to_batches()
            if checked.rejected:
                yield _rejected_batch(checked.rejected, schema, id_column)

    return run


def _rejected_batch(
    rejected: list[Any], schema: pa.Schema, id_column: str | None
) -> pa.RecordBatch:
    n = len(rejected)
    columns = {f.name: pa.nulls(n, f.type) for f in schema}
    if id_column is not None:
        columns[id_column] = pa.array([r.values.get(id_column) for r in rejected], pa.string())
    columns[REJECTED] = pa.array(["; ".join(f"{f}: {m}" for f, m in r.errors) for r in rejected])
    for name in FIELD_NAMES:
        columns[f"input_{name}"] = pa.array([r.values.get(name) for r in rejected], pa.string())
    return pa.RecordBatch.from_arrays([columns[f.name] for f in schema], schema=schema)


def ship_bundle(spark: SparkSession, model: str) -> str:
    """Send the bundle to every executor; return its name for `SparkFiles.get`.

    A local bundle is shipped under a name made from its manifest's checksum: Spark never
    replaces a file it has shipped, so a folder's new bundle (or another folder of the same
    name) must not reuse a name. A remote folder (gs://...) is shipped as it is named."""
    if "://" in model:
        spark.sparkContext.addFile(model, recursive=True)
        return Path(model.rstrip("/")).name
    digest = hashlib.sha256(Path(model, "manifest.json").read_bytes()).hexdigest()[:16]
    staged = Path(tempfile.gettempdir(), f"bankrisk-bundle-{digest}")
    if not staged.is_dir():
        partial = Path(tempfile.mkdtemp(prefix=f"{staged.name}-"))
        shutil.copytree(model, partial, dirs_exist_ok=True)
        try:
            partial.rename(staged)
        except OSError:  # another run staged it meanwhile
            shutil.rmtree(partial)
    if not any(f.rstrip("/").endswith(staged.name) for f in spark.sparkContext.listFiles):
        spark.sparkContext.addFile(str(staged), recursive=True)
    return staged.name


def bundle_run(
    spark: SparkSession, model: str, run_id: str | None, as_of: datetime | None, input_path: str
) -> Run:
    """The run to record for the bundle at `model`, wherever Spark reads it from (gs://...
    too): its name and version read from the copy Spark ships, which the driver gets too."""
    from pyspark import SparkFiles

    local = Path(SparkFiles.get(ship_bundle(spark, model)))
    return new_run(run_id, as_of, Path(input_path), local)


def read_portfolio(spark: SparkSession, path: str) -> tuple[DataFrame, str | None]:
    """The input (Parquet, or CSV read as text) with normalised column names: the 23 fields
    and the id column if any; DataError naming the missing columns."""
    if path.lower().endswith(".csv"):
        frame = spark.read.option("header", True).csv(path)
    else:
        frame = spark.read.parquet(path)
    from pyspark.sql import functions as sf

    names, id_column = input_columns(path, frame.columns)
    # An optional field the file lacks (a protected attribute): empty, as `readers` does.
    absent = {name: sf.lit(None).cast("string").alias(name) for name in absent_optional(names)}
    fields = [absent.get(name, sf.col(name)) for name in FIELD_NAMES]
    frame = frame.toDF(*names).select(*(sf.col(c) for c in (id_column,) if c), *fields)
    return frame, id_column


def _file_system(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """The Hadoop file system of a path Spark reads or writes (local, gs://, hdfs://), and
    the path as Hadoop names it."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    target = jvm.org.apache.hadoop.fs.Path(path)
    return target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), target


def delete(spark: SparkSession, path: str) -> None:
    """Remove a folder on any file system Spark writes to."""
    file_system, target = _file_system(spark, path)
    file_system.delete(target, True)


def exists(spark: SparkSession, path: str) -> bool:
    """Whether a file or folder exists, on any file system Spark reads."""
    file_system, target = _file_system(spark, path)
    return bool(file_system.exists(target))


def read_record(spark: SparkSession, folder: str) -> DataFrame:
    """A run record: DataError naming the folder when there is none there, or naming the
    columns of the log's row layout it lacks."""
    from pyspark.errors import AnalysisException

    if not exists(spark, folder):
        raise DataError(f"--record {folder}: no such run record (no file or folder there)")
    try:
        frame = spark.read.parquet(folder)
    except AnalysisException as exc:
        why = str(exc).strip().splitlines()[0]
        raise DataError(f"--record {folder}: not a run record (Parquet): {why}") from None
    missing = [name for name in COLUMNS if name not in frame.columns]
    if missing:
        raise DataError(
            f"--record {folder}: not a run record: no column {', '.join(missing)} "
            "(`bankrisk score --engine spark --record` writes one)"
        )
    return frame


def _check_new_run(spark: SparkSession, record: RunRecord) -> None:
    """A run id is recorded once: a run already in the record folder is a UsageError."""
    from pyspark.sql import functions as sf

    if not exists(spark, record.folder):
        return
    held = read_record(spark, record.folder).filter(sf.col("request_id") == record.run.run_id)
    if held.limit(1).count():
        raise UsageError(
            f"--run-id {record.run.run_id}: that run is already in the record {record.folder}"
        )


def _record_frame(scored: DataFrame, run: Run) -> DataFrame:
    """The run's rows in the log's layout (`COLUMNS`, valued as `record.log_rows`) from the
    staging's scored rows."""
    from pyspark.sql import functions as sf

    values = {
        "request_id": sf.lit(run.run_id),
        "time": sf.lit(run.as_of),
        "model_name": sf.lit(run.model_name),
        "model_version": sf.lit(run.model_version),
        "model_role": sf.lit(ROLE),
        "customer_id": sf.col(RECORD_CUSTOMER),
        **{name: sf.col(name) for name in FIELD_NAMES},
        **{name: sf.col(column) for name, column in FROM_OUTPUT.items()},
        "score": sf.col(FROM_OUTPUT["score"]).cast("double"),  # the log's type
        REASONS: sf.col(REASONS),
        "latency_ms": sf.lit(None).cast("double"),  # a batch run has no request latency
    }
    return scored.select(*(values[name].alias(name) for name in COLUMNS))


def _write(frame: DataFrame, path: str) -> None:
    if path.lower().endswith(".csv"):
        frame.write.mode("overwrite").option("header", True).csv(path)
    else:
        frame.write.mode("overwrite").parquet(path)


def score_with_spark(
    model_dir: Path | str,
    input_path: Path | str,
    output: Path | str,
    master: str | None = None,
    skip_invalid: bool = False,
    spark: SparkSession | None = None,
    record: RunRecord | None = None,
) -> Summary:
    """Score a portfolio with Spark into the folder `output` (Parquet, or CSV if it ends in
    .csv), and record the run in `record` if given; see the module docstring."""
    from pyspark.sql import functions as sf

    start = time.monotonic()
    model, source, target = str(model_dir), str(input_path), str(output).rstrip("/")
    if "://" not in model and not Path(model, "manifest.json").is_file():
        raise MissingBundleError(f"--model-dir {model}: no bundle there (no manifest.json)")
    spark = spark or spark_session(master)
    if record is not None:
        _check_new_run(spark, record)
    bundle_name = ship_bundle(spark, model)
    frame, id_column = read_portfolio(spark, source)
    staging = f"{target}.staging"
    combined = frame.mapInArrow(
        score_batches(bundle_name, id_column, record),
        _spark_schema(combined_schema(id_column, record is not None)),
    )
    try:
        combined.write.mode("overwrite").parquet(staging)
        staged = spark.read.parquet(staging)
        refused = staged.filter(sf.col(REJECTED).isNotNull())
        n_rejected = refused.count()
        if n_rejected and not skip_invalid:
            listed = refused.select(*(c for c in (id_column,) if c), REJECTED).limit(MAX_LISTED)
            raise InvalidRowsError(_describe(listed.collect(), n_rejected, source, id_column))
        scored = staged.filter(sf.col(REJECTED).isNull())
        _write(scored.select(*output_schema(id_column).names), target)
        if record is not None:
            _record_frame(scored, record.run).write.mode("append").parquet(record.folder)
        summary = Summary(Path(target), rows_rejected=n_rejected)
        if skip_invalid:
            summary.rejects = Path(f"{target}.rejects")
            inputs = [sf.col(f"input_{n}").alias(n) for n in FIELD_NAMES]
            rejects = refused.select(
                *(c for c in (id_column,) if c), sf.col(REJECTED).alias("reason"), *inputs
            )
            rejects.write.mode("overwrite").option("header", True).csv(str(summary.rejects))
        for row in scored.groupBy("decision").count().collect():
            summary.decisions[row["decision"]] = int(row["count"])
            summary.rows_scored += int(row["count"])
    finally:
        delete(spark, staging)
    summary.seconds = time.monotonic() - start
    return summary


def _describe(rows: list[Any], total: int, source: str, id_column: str | None) -> str:
    lines = [
        f"{source}: {total:,} invalid row{'s' if total != 1 else ''}; nothing was written "
        "(--skip-invalid scores the valid rows and writes the bad ones beside the output)"
    ]
    for row in rows:
        who = f"{id_column} {row[id_column]}" if id_column else "a row without id"
        lines.append(f"  {who}: {row[REJECTED]}")
    if total > len(rows):
        lines.append(f"  ... and {total - len(rows):,} more invalid rows")
    return "\n".join(lines)


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)

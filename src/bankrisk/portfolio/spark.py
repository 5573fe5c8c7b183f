"""`bankrisk score --engine spark`: the local scorer's chunk scoring as a Spark job.

Each Python worker loads the bundle once (shipped to every executor with `addFile`, so a
local folder works on any cluster) and scores Arrow batches with `mapInArrow`, through the
same `checks.check_chunk` and `columns.ChunkScorer` as `bankrisk score`: the output columns
and values are the local scorer's.

The job writes every row (scores, or the reasons a row was refused) to a staging folder
beside the output, once; then the valid rows go to the output and, with `skip_invalid`, the
refused ones to `<output>.rejects`; without it, any refused row stops the job before the
output is written. Spark has no row order, so a refused row is named by its id.
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from bankrisk.errors import BankRiskError, MissingBundleError
from bankrisk.portfolio.checks import check_chunk
from bankrisk.portfolio.columns import ChunkScorer, output_schema
from bankrisk.portfolio.local import MAX_LISTED, InvalidRowsError, Summary
from bankrisk.portfolio.readers import input_columns
from bankrisk.schema import FIELD_NAMES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

REJECTED = "rejected"
ROWS_PER_BATCH = 50_000
_SCORERS: dict[str, ChunkScorer] = {}  # per Python worker: the bundle, loaded once


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
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ROWS_PER_BATCH))
        .getOrCreate()
    )


def combined_schema(id_column: str | None) -> pa.Schema:
    """The job's rows: the output columns, the reasons a row was refused (null when
    scored) and its input cells as text (null when scored)."""
    schema = output_schema(id_column)
    extra = [
        pa.field(REJECTED, pa.string()),
        *(pa.field(f"input_{n}", pa.string()) for n in FIELD_NAMES),
    ]
    return pa.schema([*schema, *extra])


def _scorer(bundle_path: str) -> ChunkScorer:
    if bundle_path not in _SCORERS:
        from bankrisk.bundle.model_bundle import ModelBundle

        _SCORERS[bundle_path] = ChunkScorer(ModelBundle.load(bundle_path))
    return _SCORERS[bundle_path]


def score_batches(
    bundle_name: str, id_column: str | None
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The `mapInArrow` function: input batches (normalised columns) to `combined_schema`."""
    schema = combined_schema(id_column)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import SparkFiles

        scorer = _scorer(SparkFiles.get(bundle_name))
        for batch in batches:
            checked = check_chunk(pa.Table.from_batches([batch]), id_column, 1)
            if checked.raw.shape[0]:
                scored = scorer.table(checked.raw, checked.ids, id_column)
                nulls = [pa.nulls(scored.num_rows, pa.string())] * (len(FIELD_NAMES) + 1)
                yield from pa.Table.from_arrays(
                    [*scored.columns, *nulls], schema=schema
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


def read_portfolio(spark: SparkSession, path: str) -> tuple[DataFrame, str | None]:
    """The input (Parquet, or CSV read as text) with normalised column names: the 23 fields
    and the id column if any; DataError naming the missing columns."""
    if path.lower().endswith(".csv"):
        frame = spark.read.option("header", True).csv(path)
    else:
        frame = spark.read.parquet(path)
    names, id_column = input_columns(path, frame.columns)
    frame = frame.toDF(*names).select(*(c for c in (id_column,) if c), *FIELD_NAMES)
    return frame, id_column


def _delete(spark: SparkSession, path: str) -> None:
    """Remove a folder on any file system Spark writes to (local, gs://, hdfs://)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    target = jvm.org.apache.hadoop.fs.Path(path)
    target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(target, True)


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
) -> Summary:
    """Score a portfolio with Spark into the folder `output` (Parquet, or CSV if it ends in
    .csv); see the module docstring."""
    from pyspark.sql import functions as sf

    start = time.monotonic()
    model, source, target = str(model_dir), str(input_path), str(output).rstrip("/")
    if "://" not in model and not Path(model, "manifest.json").is_file():
        raise MissingBundleError(f"--model-dir {model}: no bundle there (no manifest.json)")
    spark = spark or spark_session(master)
    bundle_name = ship_bundle(spark, model)
    frame, id_column = read_portfolio(spark, source)
    staging = f"{target}.staging"
    combined = frame.mapInArrow(
        score_batches(bundle_name, id_column),
        _spark_schema(combined_schema(id_column)),
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
        _delete(spark, staging)
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

"""`bankrisk monitor drift|performance --engine spark --record FOLDER`: a Spark run record
(`bankrisk score --engine spark --record`) monitored by Spark where it lies.

A Spark portfolio run of millions of rows is not written to the SQL prediction log (one
transaction from many executors); its record is Parquet in the log's row layout. Here Spark
reads it in place and the figures are the SQL log's, computed by the same code:

- Drift: the selected rows (`Selection`: window, run, model version; the role is always
  `portfolio`) go through `mapInArrow` on the executors, which count each Arrow batch into the
  bundle's `DriftPlan` bins (`BinCounts`, per period with `by`) and yield one small row per
  partition and period: the counts as JSON. The driver sums them (`BinCounts.merge`) and
  finishes the report as `run_drift` does (`drift_of`, `drift_over_time_of`): no row reaches
  the driver.
- Performance: Spark ranks each customer's latest prediction in the selection (by time, then
  run id; rows without a customer id each count) and left-joins the outcomes ingested into the
  SQL log (`bankrisk monitor outcomes`, read in chunks into Spark). The joined rows, ten
  columns, stream to the driver a partition at a time (about `ROWS_PER_PARTITION` rows each)
  as Arrow batches into `performance_from`, the body of `run_performance`: memory is that of
  the customers with an outcome (an exact AUC needs every PD), as on the SQL log.

Period labels are the log's (`columns.period_of`): the UTC day or the Monday of its ISO week as
`YYYY-MM-DD`, the month as `YYYY-MM`.

Spark's Python workers import this module to run its `mapInArrow` functions: what only the
driver needs (performance, scoring's Spark helpers, the log's queries) is imported in the
functions that use it.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from bankrisk.errors import BankRiskError
from bankrisk.monitoring.drift import (
    DRIFT_COLUMNS,
    BinCounts,
    DriftOverTime,
    DriftPlan,
    DriftResult,
    check_window,
    drift_of,
    drift_over_time_of,
    load_plan,
    prepare_drift,
)
from bankrisk.prediction_log.columns import PERIOD, Chunk, Period, Selection
from bankrisk.prediction_log.store import PredictionStore, as_utc

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from bankrisk.monitoring.demographics import Demographics
    from bankrisk.monitoring.performance import PerformanceResult

_PLANS: dict[str, DriftPlan] = {}  # per Python worker: the bundle's drift plan, built once
_WHOLE = ""  # the period label of counts without `by`
COUNTS_SCHEMA = "period string, rows long, complete long, counts string"
# Rows of a partition of the ranking, streamed to the driver at once (two are fetched ahead).
ROWS_PER_PARTITION = 250_000
OUTCOMES_PER_WRITE = 500_000  # outcomes read from the log and staged at a time
_BATCH = "batch"  # the column of `_to_ipc`'s rows: one Arrow batch as IPC bytes


class RecordInputError(BankRiskError):
    """The run record holds nothing to monitor as asked (no such run, no rows selected)."""


def monitor_session(master: str | None = None) -> SparkSession:
    """A Spark session for monitoring (`spark_session`'s settings)."""
    from bankrisk.portfolio.spark import spark_session

    return spark_session(master, "bankrisk-monitor")


def period_labels(times: pa.Array, by: Period) -> np.ndarray:
    """Each time's UTC period as the log labels it (object array of text, one string object
    per period)."""
    instants = times.cast(pa.int64()).to_numpy(zero_copy_only=False).astype("datetime64[us]")
    days = instants.astype("datetime64[D]")
    if by == "day":
        periods = days
    elif by == "week":  # the Monday on or before: 1970-01-01 was a Thursday
        periods = days - (days.astype(np.int64) + 3) % 7
    else:
        periods = instants.astype("datetime64[M]")
    unique, inverse = np.unique(periods, return_inverse=True)
    return unique.astype(str).astype(object)[inverse.reshape(-1)]


def _condition(selection: Selection) -> Column:
    """`Selection.condition` on a run record's columns."""
    from pyspark.sql import functions as sf

    clauses = [sf.lit(True)]
    if selection.since is not None:
        clauses.append(sf.col("time") >= sf.lit(as_utc(selection.since)))
    if selection.until is not None:
        clauses.append(sf.col("time") < sf.lit(as_utc(selection.until)))
    for column, value in (
        ("model_role", selection.role),
        ("model_version", selection.version),
        ("request_id", selection.run),
    ):
        if value is not None:
            clauses.append(sf.col(column) == sf.lit(value))
    return reduce(lambda a, b: a & b, clauses)


def _nothing_selected(record: DataFrame, folder: str, selection: Selection) -> RecordInputError:
    """Why no row is selected: a run the record does not hold (naming those it holds), or
    a window, version or run with no rows."""
    from pyspark.sql import functions as sf

    run = selection.run
    if run is not None and not record.filter(sf.col("request_id") == run).limit(1).count():
        held = [r[0] for r in record.select("request_id").distinct().limit(11).collect()]
        listed = ", ".join(sorted(held)[:10]) + (", ..." if len(held) > 10 else "")
        return RecordInputError(
            f"--run {run}: no such run in the record {folder} (its runs: {listed or 'none'})"
        )
    return RecordInputError(
        f"no rows in the record {folder} ({selection.describe()}): nothing to monitor"
    )


# ---- drift ----------------------------------------------------------------------------------


def _plan(bundle_path: str) -> DriftPlan:
    if bundle_path not in _PLANS:
        _PLANS[bundle_path] = load_plan(Path(bundle_path)).plan
    return _PLANS[bundle_path]


def _count_batches(
    bundle_name: str, by: Period | None
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The `mapInArrow` function of drift: a partition's rows counted into the bundle's
    bins, one row per period (`COUNTS_SCHEMA`)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import SparkFiles

        plan = _plan(SparkFiles.get(bundle_name))
        per_period: dict[str, BinCounts] = {}
        for batch in batches:
            chunk = {n: _floats(batch.column(n)) for n in DRIFT_COLUMNS}
            if by is None:
                per_period.setdefault(_WHOLE, BinCounts(plan)).add_chunk(chunk)
                continue
            labels = period_labels(batch.column("time"), by)
            for period in np.unique(labels).tolist():
                counts = per_period.setdefault(str(period), BinCounts(plan))
                counts.add_chunk(chunk, labels == period)
        if per_period:
            yield pa.RecordBatch.from_pylist(
                [
                    {
                        "period": period,
                        "rows": counts.rows,
                        "complete": counts.complete,
                        "counts": json.dumps({k: v.tolist() for k, v in counts.counts.items()}),
                    }
                    for period, counts in per_period.items()
                ]
            )

    return run


def _floats(column: pa.Array) -> np.ndarray:
    """A numeric column as float64, null as NaN (as the log's columns are read)."""
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def _counted(
    spark: SparkSession, folder: str, model_dir: Path, selection: Selection, by: Period | None
) -> tuple[DataFrame, list[Any]]:
    """The record and the executors' counts of its selected rows (`COUNTS_SCHEMA` rows)."""
    from bankrisk.portfolio.spark import read_record, ship_bundle

    record = read_record(spark, folder)
    bundle_name = ship_bundle(spark, str(model_dir))
    selected = record.filter(_condition(selection)).select(*DRIFT_COLUMNS, "time")
    return record, selected.mapInArrow(_count_batches(bundle_name, by), COUNTS_SCHEMA).collect()


def _summed(rows: Sequence[Any], plan: DriftPlan) -> dict[str, BinCounts]:
    """The executors' counts summed by period."""
    per_period: dict[str, BinCounts] = {}
    for row in rows:
        counts = {k: np.asarray(v, dtype=np.int64) for k, v in json.loads(row["counts"]).items()}
        part = BinCounts(plan, int(row["rows"]), int(row["complete"]), counts)
        per_period.setdefault(row["period"], BinCounts(plan)).merge(part)
    return per_period


def record_drift(
    spark: SparkSession,
    folder: str,
    model_dir: Path,
    selection: Selection,
    warn: float,
    alert: float,
) -> DriftResult:
    """`run_drift` of a run record's selected rows, counted by Spark."""
    prepared = prepare_drift(model_dir, selection, warn, alert)
    record, rows = _counted(spark, folder, model_dir, selection, None)
    per_period = _summed(rows, prepared.plan)
    if _WHOLE not in per_period:
        raise _nothing_selected(record, folder, selection)
    return drift_of(prepared, per_period[_WHOLE], selection, warn, alert)


def record_drift_over_time(
    spark: SparkSession,
    folder: str,
    model_dir: Path,
    selection: Selection,
    by: Period,
    warn: float,
    alert: float,
) -> DriftOverTime:
    """`run_drift_over_time` of a run record's selected rows, counted by Spark."""
    prepared = prepare_drift(model_dir, selection, warn, alert)
    record, rows = _counted(spark, folder, model_dir, selection, by)
    per_period = _summed(rows, prepared.plan)
    if not per_period:
        raise _nothing_selected(record, folder, selection)
    return drift_over_time_of(prepared, per_period, selection, by, warn, alert)


# ---- performance ----------------------------------------------------------------------------

# What the ranking keeps of each selected row: `LATEST_COLUMNS`' sources.
_RANKED = (
    *("customer_id", "time", "request_id", "pd", "SEX", "MARRIAGE", "AGE", "EDUCATION"),
    *("grade", "decision", "model_version", "model_role"),
)


def _stage_outcomes(spark: SparkSession, store: PredictionStore, staging: str) -> DataFrame:
    """The outcomes the SQL log holds (customer_id, defaulted) as a Spark DataFrame: read in
    chunks and written to the folder `staging` (by pyarrow, on the file systems it knows;
    else by Spark, chunk by chunk), so that no process holds every customer's outcome."""
    import pyarrow.fs
    import pyarrow.parquet as pq
    from sqlalchemy import select

    from bankrisk.portfolio.spark import exists
    from bankrisk.prediction_log.columns import read_query
    from bankrisk.prediction_log.store import outcomes

    query = select(outcomes.c.defaulted, outcomes.c.customer_id)
    schema = pa.schema([pa.field("customer_id", pa.string()), pa.field("defaulted", pa.float64())])
    tables = (
        pa.table([chunk["customer_id"], chunk["defaulted"]], schema=schema)
        for chunk in read_query(store, query, numeric=1, chunk_rows=OUTCOMES_PER_WRITE)
    )
    try:
        file_system, path = pyarrow.fs.FileSystem.from_uri(staging)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a file system pyarrow lacks
        for table in tables:
            spark.createDataFrame(table).write.mode("append").parquet(staging)
        if not exists(spark, staging):  # no outcome at all
            return spark.createDataFrame([], "customer_id string, defaulted double")
    else:
        file_system.create_dir(path)
        with pq.ParquetWriter(f"{path}/outcomes.parquet", schema, filesystem=file_system) as out:
            for table in tables:
                out.write_table(table)
    return spark.read.parquet(staging)


def _latest(
    selected: DataFrame, outcome: DataFrame, partitions: int, per_version: bool
) -> DataFrame:
    """Each customer's latest selected row (per model version and role with `per_version`;
    rows without a customer id each count), by time then run id, left-joined with its
    outcome: `performance._latest` on Spark, without the period label. The rows are ranked
    and joined in `partitions` partitions by customer id: each is what the driver holds at
    once."""
    from pyspark.sql import Window
    from pyspark.sql import functions as sf

    rows = selected.select(*_RANKED)
    keys = ["customer_id", "model_version", "model_role"] if per_version else ["customer_id"]
    order = Window.partitionBy(*keys).orderBy(sf.col("time").desc(), sf.col("request_id").desc())
    with_id = rows.filter(sf.col("customer_id").isNotNull()).repartition(partitions, "customer_id")
    ranked = with_id.withColumn("_rank", sf.row_number().over(order)).filter("_rank = 1")
    joined = ranked.drop("_rank").join(outcome, on="customer_id", how="left")
    without_id = rows.filter(sf.col("customer_id").isNull())
    return joined.unionByName(without_id.withColumn("defaulted", sf.lit(None).cast("double")))


def _to_ipc(
    columns: Sequence[str],
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The `mapInArrow` function that ships rows to the driver: each batch's `columns` (the
    period: the month of its time) as one row of Arrow IPC bytes."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            months = pa.array(period_labels(batch.column("time"), "month"), pa.string())
            table = pa.table(
                [months if c == PERIOD else batch.column(c) for c in columns], names=list(columns)
            )
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            yield pa.RecordBatch.from_pydict({_BATCH: [sink.getvalue().to_pybytes()]})

    return run


def _stream(frame: DataFrame, with_ids: bool = False) -> Iterator[Chunk]:
    """The rows of `_latest`'s `frame` on the driver as chunks of `LATEST_COLUMNS` (or
    `LATEST_WITH_IDS`, `with_ids`), a partition at a time (the next one fetched meanwhile)."""
    from bankrisk.monitoring.performance import LATEST_COLUMNS, LATEST_NUMERIC, LATEST_WITH_IDS
    from bankrisk.prediction_log.columns import _arrays  # the log's chunks, made alike

    columns = LATEST_WITH_IDS if with_ids else LATEST_COLUMNS
    shipped = frame.mapInArrow(_to_ipc(columns), f"{_BATCH} binary")
    for row in shipped.toLocalIterator(prefetchPartitions=True):
        with pa.ipc.open_stream(row[_BATCH]) as reader:
            for batch in reader:
                yield _arrays(batch, LATEST_NUMERIC)


def record_performance(
    spark: SparkSession,
    folder: str,
    store: PredictionStore,
    selection: Selection,
    demographics: Demographics | None = None,
) -> PerformanceResult:
    """`run_performance` of a run record's selected rows, ranked and joined with the SQL
    log's outcomes by Spark (the protected attributes from `demographics` where it has
    them, joined on the driver as `run_performance` joins them)."""
    from bankrisk.monitoring.performance import performance_from
    from bankrisk.portfolio.spark import delete, read_record

    check_window(selection.since, selection.until)
    record = read_record(spark, folder)
    selected = record.filter(_condition(selection))
    logged = selected.count()
    if not logged:
        raise _nothing_selected(record, folder, selection)
    stored = store.count_outcomes()
    partitions = math.ceil(logged / ROWS_PER_PARTITION)
    every_role = record.filter(_condition(replace(selection, role=None)))

    def pairs() -> list[tuple[str, str]]:
        found = every_role.select("model_version", "model_role").distinct().collect()
        return [(str(v), str(r)) for v, r in found]

    # Beside the record, on a file system every executor reads (a local path made absolute:
    # pyarrow takes no relative one).
    where = folder.rstrip("/") if "://" in folder else os.path.abspath(folder)
    staging = f"{where}.outcomes-{uuid.uuid4().hex[:12]}"
    try:
        outcome = _stage_outcomes(spark, store, staging)
        return performance_from(
            selection,
            _stream(
                _latest(selected, outcome, partitions, per_version=False),
                with_ids=demographics is not None,
            ),
            pairs,
            lambda: _stream(_latest(every_role, outcome, partitions, per_version=True)),
            lambda: (logged, stored),
            demographics,
        )
    finally:
        delete(spark, staging)

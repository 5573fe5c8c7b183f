"""`bankrisk score`: a portfolio file scored on this machine or on Spark."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from bankrisk.cli.common import ModelDirOption, console, load_settings
from bankrisk.config import Settings
from bankrisk.errors import UsageError
from bankrisk.times import parse_time

if TYPE_CHECKING:
    from bankrisk.portfolio.local import Summary
    from bankrisk.portfolio.record import Recorder, Run


class Engine(StrEnum):
    local = "local"
    spark = "spark"


EngineOption = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="local: stream the file on this machine; spark: a Spark job (Parquet in and out).",
    ),
]


def score(
    input_path: Annotated[
        Path, typer.Option("--input", help="Customers to score: .csv, .parquet or UCI .xls.")
    ],
    output: Annotated[
        Path, typer.Option("--output", help="Scores to write: .csv or .parquet (by extension).")
    ],
    model_dir: ModelDirOption = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", help="Rows read and scored at a time (memory).")
    ] = 25_000,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Score the valid rows and write bad ones to OUTPUT_STEM.rejects.csv, instead "
            "of stopping before writing anything.",
        ),
    ] = False,
    engine: EngineOption = Engine.local,
    master: Annotated[
        str | None,
        typer.Option("--master", help=r"Spark master URL (--engine spark). \[default: local[*]]"),
    ] = None,
    log: Annotated[
        str | None,
        typer.Option(
            "--log",
            help="--engine local: also record the run in this prediction log (SQLAlchemy URL), "
            "for `bankrisk monitor ... --role portfolio --run RUN_ID`.",
        ),
    ] = None,
    record: Annotated[
        str | None,
        typer.Option(
            "--record",
            help="--engine spark: also record the run in this folder (Parquet in the "
            "prediction log's row layout, runs appended), for `bankrisk monitor ... --engine "
            "spark --record FOLDER --run RUN_ID`.",
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            help=r"The run's id in the log or record. \[default: INPUT_STEM-UTC_TIME]",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help=r"The run's date in the log or record, ISO 8601. \[default: now]"
        ),
    ] = None,
) -> None:
    """Score a portfolio file: per customer the PD, score, grade, decision, up to four reason
    codes and warnings, as the API gives them. Exit code 2 on bad input (nothing written).

    Progress: a live bar on a terminal; elsewhere (a pipe, a log file) at most three plain
    lines, on runs longer than ten seconds."""
    settings = load_settings()
    directory = model_dir or settings.model_dir
    if log is None and record is None and (run_id is not None or as_of is not None):
        raise UsageError("--run-id and --as-of name a run recorded with --log or --record")
    if engine is Engine.spark:
        if log is not None:
            raise UsageError(
                "--log records a local run in the SQL prediction log: record a Spark run with "
                "--record FOLDER"
            )
        from bankrisk.portfolio.record import new_run
        from bankrisk.portfolio.spark import run_record, score_with_spark

        target = None
        if record is not None:
            run = new_run(run_id, parse_time(as_of, "--as-of"), input_path, directory)
            target = run_record(record, run, settings)
        summary = score_with_spark(
            directory, input_path, output, master=master, skip_invalid=skip_invalid, record=target
        )
        if target is not None:
            _print_recorded(target.run, target.folder, f"--engine spark --record {target.folder}")
    else:
        if master is not None:
            raise UsageError("--master is for --engine spark")
        if record is not None:
            raise UsageError(
                "--record records a Spark run: record a local run in the prediction log with "
                "--log URL"
            )
        from bankrisk.portfolio.local import score_file
        from bankrisk.portfolio.progress import progress_reporter

        with (
            progress_reporter(console) as on_progress,
            _recording(log, run_id, as_of, input_path, directory, settings) as recorder,
        ):
            summary = score_file(
                directory, input_path, output, chunk_rows, skip_invalid, on_progress, recorder
            )
    _print_summary(summary)


@contextmanager
def _recording(
    log: str | None,
    run_id: str | None,
    as_of: str | None,
    input_path: Path,
    model_dir: Path,
    settings: Settings,
) -> Iterator[Recorder | None]:
    """The recorder of a run in the log (`--log`), its rows kept only if the run succeeds."""
    if log is None:
        yield None
        return
    from bankrisk.portfolio.record import new_run, recording
    from bankrisk.prediction_log.columns import Selection, count_rows
    from bankrisk.prediction_log.opening import open_reader
    from bankrisk.prediction_log.runs import ROLE

    run = new_run(run_id, parse_time(as_of, "--as-of"), input_path, model_dir)
    name = run.run_id
    store = open_reader(
        log,
        pseudonymise=settings.prediction_log_pseudonymise,
        salt=settings.prediction_log_salt.get_secret_value() or None,
    )
    if store is None:
        raise UsageError("--log off: give the URL of the log to record the run in")
    try:
        if count_rows(store, Selection(role=None, run=name)):
            raise UsageError(f"--run-id {name}: that run is already in the log {store}")
        with recording(store, run) as recorder:
            yield recorder
        _print_recorded(run, str(store), f"--role {ROLE}")
    finally:
        store.close()


def _print_recorded(run: Run, where: str, monitor_options: str) -> None:
    Console(soft_wrap=True).print(
        f"recorded as run {run.run_id} (as of {run.as_of.isoformat()}) in {where}: `bankrisk "
        f"monitor drift {monitor_options} --run {run.run_id}`",
        highlight=False,
    )


def _print_summary(summary: Summary) -> None:
    rate = summary.rows_scored / summary.seconds if summary.seconds else 0.0
    decisions = ", ".join(f"{k} {v:,}" for k, v in summary.decisions.items())
    out = Console(soft_wrap=True)
    out.print(
        f"{summary.rows_scored:,} rows scored, {summary.rows_rejected:,} rejected in "
        f"{summary.seconds:.1f} s ({rate:,.0f} rows/s): {decisions}; scores in {summary.output}",
        highlight=False,
    )
    if summary.rejects is not None:
        out.print(f"rejected rows (row, field, reason, values): {summary.rejects}", highlight=False)

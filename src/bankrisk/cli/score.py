"""`bankrisk score`: a portfolio file scored on this machine or on Spark."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from bankrisk.cli.common import ModelDirOption, console, load_settings
from bankrisk.errors import UsageError

if TYPE_CHECKING:
    from bankrisk.portfolio.local import Summary


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
) -> None:
    """Score a portfolio file: per customer the PD, score, grade, decision, up to four reason
    codes and warnings, as the API gives them. Exit code 2 on bad input (nothing written).

    Progress: a live bar on a terminal; elsewhere (a pipe, a log file) at most three plain
    lines, on runs longer than ten seconds."""
    settings = load_settings()
    directory = model_dir or settings.model_dir
    if engine is Engine.spark:
        from bankrisk.portfolio.spark import score_with_spark

        summary = score_with_spark(
            directory, input_path, output, master=master, skip_invalid=skip_invalid
        )
    else:
        if master is not None:
            raise UsageError("--master is for --engine spark")
        from bankrisk.portfolio.local import score_file
        from bankrisk.portfolio.progress import progress_reporter

        with progress_reporter(console) as on_progress:
            summary = score_file(
                directory, input_path, output, chunk_rows, skip_invalid, on_progress
            )
    _print_summary(summary)


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

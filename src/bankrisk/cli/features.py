"""`bankrisk features materialize`: customers' fields into the Feast feature store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bankrisk.cli.common import env_name, load_settings
from bankrisk.times import parse_time

app = typer.Typer(
    help="The Feast feature store: load customers' fields for scoring by id.",
    no_args_is_help=True,
)


@app.command("materialize")
def materialize(
    data: Annotated[
        Path, typer.Option("--data", help="Customers' fields: .csv, .parquet or UCI .xls, with ID.")
    ],
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo",
            help=f"Feast repository (or {env_name('feature_repo')}). "
            r"\[default: feature_repo]",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="When the data was true, ISO 8601 (UTC if no zone); each row's event "
            r"timestamp. \[default: now]",
        ),
    ] = None,
) -> None:
    """Validate a data file, write it to the offline store as the snapshot at --as-of, then
    Feast's apply and materialize into the online store. Exit code 2 on bad input."""
    settings = load_settings()
    when = parse_time(as_of, "--as-of")
    from bankrisk.feature_store.materialize import materialize as load_into_store

    done = load_into_store(repo or settings.feature_repo or Path("feature_repo"), data, when)
    Console(soft_wrap=True).print(
        f"{done.customers:,} customers as of {done.as_of.isoformat(timespec='seconds')} "
        f"written to {done.snapshot} and materialized online in {done.seconds:.1f} s",
        highlight=False,
    )

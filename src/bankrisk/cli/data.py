"""`bankrisk data download|synthesize`: the UCI data set, and synthetic portfolios."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bankrisk.cli.common import DataOption, env_name, load_settings, resolve_data, settings_default

app = typer.Typer(help="Get the UCI data set.", no_args_is_help=True)


@app.command("download")
def download(
    dest: Annotated[
        Path | None,
        typer.Option(
            "--dest", help=f"Folder (or {env_name('data_dir')}). {settings_default('data_dir')}"
        ),
    ] = None,
) -> None:
    """Fetch the official UCI file (data set 350), check its shape, store its checksum."""
    settings = load_settings()
    from bankrisk.data.download import download_uci

    path = download_uci(dest or settings.data_dir, url=settings.data_url)
    Console().print(f"UCI data set ready: {path}")


@app.command("synthesize")
def synthesize(
    rows: Annotated[int, typer.Option("--rows", help="How many customers to write.")],
    output: Annotated[Path, typer.Option("--output", help="File to write (.csv or .parquet).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    data: DataOption = None,
) -> None:
    """Write a realistic synthetic portfolio for scale tests: real rows resampled with small
    noise on amounts and ages (valid ranges kept), IDs 1..ROWS, written in chunks."""
    settings = load_settings()
    from bankrisk.data.synthesize import synthesize_file

    written = synthesize_file(resolve_data(data, settings), output, rows, seed)
    Console().print(f"{written:,} synthetic customers written to {output}")

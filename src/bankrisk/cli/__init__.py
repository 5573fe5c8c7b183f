"""The `bankrisk` command line: one module per command group, each command only parsing its
options, calling domain code and printing. Heavy libraries are imported inside each command,
so that `bankrisk serve` runs on the light serving install and `--help` answers at once.

- `data`: data download, data synthesize
- `train`: train, evaluate, models, promote, rollback
- `score`: score
- `serve`: serve
- `console`: console (the analyst console)
- `monitor`: monitor drift, outcomes, performance, prune
- `features`: features materialize

A `BankRiskError` ends any command with one line on stderr and exit code 2 (`common.Commands`);
any other exception is a bug and shows its traceback.
"""

from __future__ import annotations

from typing import Any

import typer

from bankrisk.cli import console, data, drift_sql, features, monitor, score, serve, train
from bankrisk.cli.common import Commands

__all__ = ["app", "main"]

app = typer.Typer(
    cls=Commands,
    help="Credit-card default risk: train, evaluate and serve a calibrated PD model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data.app, name="data")
drift_sql.register(monitor.app)  # monitor drift-sql, monitor export
app.add_typer(monitor.app, name="monitor")
app.add_typer(features.app, name="features")
app.command()(train.train)
app.command()(train.evaluate)
app.command("models")(train.models)
app.command()(train.promote)
app.command()(train.rollback)
app.command()(score.score)
app.command()(serve.serve)
app.command("console")(console.console_command)


def main(argv: list[str] | None = None) -> Any:
    return app(argv)

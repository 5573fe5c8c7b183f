"""What every command module shares: the settings and how their errors read, the options
several commands take, how a user error ends a command, and small printing helpers.

Errors: domain code raises a `BankRiskError` (a subclass naming what failed); `Commands` (the
class of the `bankrisk` group) turns it into one red line on stderr and exit code 2, wherever
it comes from. Any other exception is a bug: it propagates with its traceback (exit code 1).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import AliasChoices, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from bankrisk.config import Settings
from bankrisk.errors import (
    BankRiskError,
    MissingExtraError,
)

console = Console(stderr=True, soft_wrap=True)  # one line per message, never wrapped


def fail(message: str) -> NoReturn:
    """One red line on stderr, exit code 2."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(2)


class Commands(TyperGroup):
    """The `bankrisk` group: a `BankRiskError` raised by any command, in any sub-group, ends it
    with its message on one line and exit code 2. Nothing else is caught."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click Context
        try:
            return super().invoke(ctx)
        except BankRiskError as exc:
            fail(str(exc))


# ---- settings ---------------------------------------------------------------------------------


def env_name(field: str) -> str:
    """The environment variable that sets a Settings field: its alias if it has one (the one
    set in the environment, else the first: PORT, MLFLOW_TRACKING_URI), else BANKRISK_<FIELD>."""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices):
        names = [c for c in alias.choices if isinstance(c, str)]
        return next((n for n in names if n in os.environ), names[0])
    if isinstance(alias, str):
        return alias
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


def _env_for(name: str) -> str:
    """An error location (a field name, or its first alias such as PORT) as the variable to fix."""
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        if name == field or name in choices:
            return env_name(field)
    return name


def settings_default(field: str) -> str:
    """A field's default for a help text. The brackets are escaped: help is rich markup, where
    a bare `[default: ...]` is taken for a style tag and vanishes."""
    return rf"\[default: {Settings.model_fields[field].default}]"


def _settings_problem(error: Any) -> str:
    """One settings error, naming the environment variable to fix."""
    loc = [str(part) for part in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc:  # a check across fields: its message names them
        fields = "|".join(sorted(Settings.model_fields, key=len, reverse=True))
        return re.sub(rf"\b({fields})\b", lambda m: env_name(m.group(1)), message)
    where = _env_for(loc[0])
    if len(loc) > 1 and loc[1].isdigit():
        where += f" (item {int(loc[1]) + 1})"
    return f"{where}: {message}"


def load_settings() -> Settings:
    """The settings from the environment; a bad one ends the command naming its variable."""
    try:
        return Settings()
    except ValidationError as exc:
        fail("invalid settings: " + "; ".join(_settings_problem(e) for e in exc.errors()))


# ---- options several commands take ---------------------------------------------------------

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Labelled data file (.xls in the UCI layout, .csv, .parquet). "
        rf"\[default: the official UCI file in {Settings.model_fields['data_dir'].default}/, "
        "downloaded if missing]",
    ),
]
ModelDirOption = Annotated[
    Path | None,
    typer.Option(
        "--model-dir",
        help=f"Serving bundle folder (or {env_name('model_dir')}). {settings_default('model_dir')}",
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Make the new version champion even if the promotion gate says no or cannot "
        "compare (its verdict is still recorded).",
    ),
]


def resolve_data(data: Path | None, settings: Settings) -> Path:
    """The given file, or the downloaded official copy (fetched if missing)."""
    if data is not None:
        return data
    from bankrisk.data.download import default_data_path, download_uci

    path = default_data_path(settings.data_dir)
    if path.is_file():
        return path
    console.print(f"no --data given: downloading the official UCI file to {settings.data_dir}")
    return download_uci(settings.data_dir, url=settings.data_url)


# ---- bundles and extras ---------------------------------------------------------------------


@contextmanager
def needs_extra(command: str, extra: str, modules: tuple[str, ...]) -> Iterator[None]:
    """Around the imports of a command's domain code: one of `modules` (the extra's libraries)
    missing is a MissingExtraError; any other missing module is a bug and propagates."""
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in modules:
            raise
        raise MissingExtraError(command, extra, top) from None


# ---- printing -------------------------------------------------------------------------------


def stage_printer() -> Callable[[str], None]:
    """A progress callback printing each stage with the seconds since it was made (stderr)."""
    start = time.monotonic()

    def report(message: str) -> None:
        console.print(f"[dim]{time.monotonic() - start:6.1f}s[/] {message}", highlight=False)

    return report


def print_json_text(text: str) -> None:
    """JSON on stdout, alone: warnings and notes go to stderr."""
    sys.stdout.write(text + "\n")


def metrics_table(title: str, rows: dict[str, dict[str, float]], marked: str = "") -> Table:
    keys = ["roc_auc", "gini", "ks", "brier", "log_loss", "ece", "pr_auc", "approval_rate"]
    table = Table(title=title)
    table.add_column("model")
    for key in keys:
        table.add_column(key, justify="right")
    for name, metrics in rows.items():
        label = f"{name} *" if name == marked else name
        table.add_row(label, *(f"{metrics[k]:.4f}" for k in keys))
    return table

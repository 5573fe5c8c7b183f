"""The `bankrisk` command line. Heavy libraries are imported inside each command, so that
`bankrisk serve` runs on the light serving install and `--help` answers at once."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import AliasChoices, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bankrisk.config import Settings
from bankrisk.errors import BankRiskError

app = typer.Typer(
    help="Credit-card default risk: train, evaluate and serve a calibrated PD model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Get the UCI data set.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console(stderr=True, soft_wrap=True)  # one line per message, never wrapped


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


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected failures into one red line and exit code 2, never a traceback."""
    try:
        yield
    except BankRiskError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    except ValidationError as exc:
        if exc.title == Settings.__name__:
            problems = "; ".join(_settings_problem(e) for e in exc.errors())
            what = "invalid settings"
        else:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
            )
            what = f"invalid {exc.title}"
        console.print(f"[bold red]error:[/] {escape(f'{what}: {problems}')}", highlight=False)
        raise typer.Exit(2) from None


def load_settings() -> Settings:
    with user_errors():
        return Settings()
    raise AssertionError("unreachable")


def _progress() -> Callable[[str], None]:
    start = time.monotonic()

    def report(message: str) -> None:
        console.print(f"[dim]{time.monotonic() - start:6.1f}s[/] {message}", highlight=False)

    return report


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


def _metrics_table(title: str, rows: dict[str, dict[str, float]], marked: str = "") -> Table:
    keys = ["roc_auc", "gini", "ks", "brier", "log_loss", "ece", "pr_auc", "approval_rate"]
    table = Table(title=title)
    table.add_column("model")
    for key in keys:
        table.add_column(key, justify="right")
    for name, metrics in rows.items():
        label = f"{name} *" if name == marked else name
        table.add_row(label, *(f"{metrics[k]:.4f}" for k in keys))
    return table


@app.command()
def train(
    data: DataOption = None,
    model_dir: ModelDirOption = None,
) -> None:
    """Train every candidate, track them in MLflow, register the best behind the promotion
    gate and write the champion's serving bundle."""
    settings = load_settings()
    with user_errors():
        from bankrisk.training.train import run_training

        path = resolve_data(data, settings)
        report = run_training(path, settings, model_dir or settings.model_dir, _progress())
    rows = {c.name: c.metrics for c in report.candidates}
    out = Console(width=120)
    out.print(_metrics_table("Test split (never used for tuning)", rows, report.champion))
    out.print(
        f"Winner: [bold]{report.champion}[/] (lowest cross-validated log loss), registered as "
        f"{settings.registered_model_name} v{report.registered_version} "
        f"with alias [bold]{report.alias}[/] ({report.gate_reason})."
    )
    if report.bundle_exported:
        out.print(f"Champion serving bundle: {report.model_dir}")
    else:
        out.print(f"Not promoted: the champion bundle in {report.model_dir} is unchanged.")


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option("--data", help="Labelled data file to score.")],
    model_dir: ModelDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", help="Also write each row's scores to this CSV.")
    ] = None,
) -> None:
    """Score a labelled file with a serving bundle and print its metrics."""
    settings = load_settings()
    with user_errors():
        from bankrisk.evaluation.evaluate import evaluate_bundle

        result = evaluate_bundle(model_dir or settings.model_dir, data, output)
    for warning in result["warnings"]:  # on stderr, so --json output stays clean
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    name = f"{result['model']['name']} v{result['model']['version']}"
    metrics = result["metrics"]
    out = Console(width=120)
    out.print(_metrics_table(f"{data} ({metrics['n']:.0f} rows)", {name: metrics}))
    out.print(
        f"Confusion matrix at the decline threshold {metrics['threshold']:.4f}: "
        f"TN {metrics['tn']:.0f}  FP {metrics['fp']:.0f}  FN {metrics['fn']:.0f}  "
        f"TP {metrics['tp']:.0f}"
    )


@data_app.command("download")
def data_download(
    dest: Annotated[
        Path | None,
        typer.Option(
            "--dest", help=f"Folder (or {env_name('data_dir')}). {settings_default('data_dir')}"
        ),
    ] = None,
) -> None:
    """Fetch the official UCI file (data set 350), check its shape, store its checksum."""
    settings = load_settings()
    with user_errors():
        from bankrisk.data.download import download_uci

        path = download_uci(dest or settings.data_dir, url=settings.data_url)
    Console().print(f"UCI data set ready: {path}")


@app.command()
def serve(
    model_dir: ModelDirOption = None,
    host: Annotated[
        str | None,
        typer.Option(help=f"Bind address (or {env_name('host')}). {settings_default('host')}"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help=f"Port; the PORT variable wins over it. {settings_default('port')}"),
    ] = None,
) -> None:
    """Serve the scoring API (Uvicorn) over a bundle."""
    settings = load_settings()
    from bankrisk.serving.server import serve as run_server

    chosen_port = settings.port if "PORT" in os.environ or port is None else port
    code = run_server(settings, model_dir or settings.model_dir, host or settings.host, chosen_port)
    raise typer.Exit(code)


def main(argv: list[str] | None = None) -> Any:
    return app(argv)

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
from enum import StrEnum
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
monitor_app = typer.Typer(
    help="Monitor logged predictions: drift, outcomes, back-testing, retention.",
    no_args_is_help=True,
)
app.add_typer(monitor_app, name="monitor")
features_app = typer.Typer(
    help="The Feast feature store: load customers' fields for scoring by id.",
    no_args_is_help=True,
)
app.add_typer(features_app, name="features")
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


ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Make the new version champion even if the promotion gate says no or cannot "
        "compare (its verdict is still recorded).",
    ),
]


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
    force: ForceOption = False,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features",
            help="Build the training rows from this Feast repository (point-in-time join of "
            "--entities) instead of --data.",
        ),
    ] = None,
    entities: Annotated[
        Path | None,
        typer.Option(
            "--entities",
            help="With --features: .csv or .parquet of customer_id (or ID), event_timestamp "
            "and the label 'default payment next month'.",
        ),
    ] = None,
) -> None:
    """Train every candidate, track them in MLflow, register the best behind the promotion
    gate and write the champion's serving bundle."""
    settings = load_settings()
    with user_errors():
        from bankrisk.training.train import run_training

        if (features is None) != (entities is None):
            raise BankRiskError("--features and --entities go together: give both, or --data")
        if features is not None and entities is not None:
            if data is not None:
                raise BankRiskError("--data cannot be combined with --features/--entities")
            from functools import partial

            from bankrisk.feature_store.historical import training_data

            reader: Callable[[Path], Any] = partial(training_data, features)
            path = entities
        else:
            from bankrisk.data.training_data import read_training_data

            path, reader = resolve_data(data, settings), read_training_data
        report = run_training(
            path, settings, model_dir or settings.model_dir, _progress(), force=force, reader=reader
        )
    rows = {c.name: c.metrics for c in report.candidates}
    out = Console(width=120)
    out.print(_metrics_table("Test split (never used for tuning)", rows, report.champion))
    out.print(
        f"Winner: [bold]{report.champion}[/] (lowest cross-validated log loss), registered as "
        f"{settings.registered_model_name} v{report.registered_version} "
        f"with alias [bold]{report.alias}[/] ({escape(report.gate_reason)})."
    )
    if report.alias == "champion":
        if report.replaced_version:
            out.print(f"v{report.replaced_version} is now `previous` (bankrisk rollback).")
        out.print(f"Champion serving bundle: {report.model_dir}")
    elif report.bundle_exported:
        out.print(f"Not promoted: restored the registry's champion bundle in {report.model_dir}.")
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


# ---- the model registry: bankrisk models / promote / rollback --------------------------------


def _tag_float(tags: dict[str, str], key: str) -> str:
    try:
        return f"{float(tags[key]):.4f}"
    except (KeyError, ValueError):
        return "-"


@app.command("models")
def models() -> None:
    """List the registered versions: aliases, family, test metrics, data fingerprint, gate."""
    settings = load_settings()
    with user_errors():
        from bankrisk.training import tracking

        tracking.configure_mlflow(settings)
        versions = tracking.list_versions(settings)
    out = Console(width=160)
    if not versions:
        out.print(f"No versions of {settings.registered_model_name} are registered.")
        return
    table = Table(title=f"{settings.registered_model_name} ({settings.mlflow_tracking_uri})")
    for column in ("version", "aliases", "family", "test AUC", "Brier", "data sha256"):
        table.add_column(column, justify="right" if column != "aliases" else "left")
    table.add_column("split")
    table.add_column("created (UTC)")
    table.add_column("gate")
    for v in versions:
        tags = v["tags"]
        split = (
            f"seed {tags['split.seed']}, test {tags['split.test_size']}"
            if "split.seed" in tags and "split.test_size" in tags
            else "-"
        )
        table.add_row(
            v["version"],
            ", ".join(v["aliases"]) or "-",
            tags.get("model_family", "-"),
            _tag_float(tags, "test_roc_auc"),
            _tag_float(tags, "test_brier"),
            tags.get("data.sha256", "-")[:12],
            split,
            v["created"].strftime("%Y-%m-%d %H:%M:%S"),
            escape(tags.get("gate.decision", "-")),
        )
    out.print(table)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="The registered version to make champion.")],
    data: DataOption = None,
    model_dir: ModelDirOption = None,
    force: ForceOption = False,
) -> None:
    """Run the promotion gate of VERSION against the champion on the test split of --data;
    if it passes (or --force), VERSION becomes champion, the old champion `previous`, and its
    bundle is exported. Exit code 1 if the gate refuses (VERSION becomes challenger)."""
    settings = load_settings()
    with user_errors():
        from bankrisk.training.lifecycle import promote_version

        if not version.isdigit():
            raise BankRiskError(f"VERSION must be a version number, got {version!r}")
        path = resolve_data(data, settings)
        result = promote_version(settings, version, path, model_dir or settings.model_dir, force)
    out = Console(width=120, soft_wrap=True)
    name = settings.registered_model_name
    verdict = result.verdict
    if verdict.promoted:
        old = f"; v{result.replaced_version} is now `previous`" if result.replaced_version else ""
        out.print(f"{name} v{version} is now the champion{old} ({escape(verdict.reason)}).")
        out.print(f"Champion serving bundle: {result.model_dir}")
        return
    out.print(f"Not promoted: {name} v{version} is the challenger ({escape(verdict.reason)}).")
    raise typer.Exit(1)


@app.command()
def rollback(model_dir: ModelDirOption = None) -> None:
    """Make the `previous` version champion again and export its bundle."""
    settings = load_settings()
    with user_errors():
        from bankrisk.training.lifecycle import rollback as roll_back

        result = roll_back(settings, model_dir or settings.model_dir)
    was = f" (was v{result.rolled_back_version})" if result.rolled_back_version else ""
    Console(width=120, soft_wrap=True).print(
        f"{settings.registered_model_name} champion is v{result.restored_version} again{was}; "
        f"the `previous` alias is removed. Champion serving bundle: {result.model_dir}"
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


@data_app.command("synthesize")
def data_synthesize(
    rows: Annotated[int, typer.Option("--rows", help="How many customers to write.")],
    output: Annotated[Path, typer.Option("--output", help="File to write (.csv or .parquet).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    data: DataOption = None,
) -> None:
    """Write a realistic synthetic portfolio for scale tests: real rows resampled with small
    noise on amounts and ages (valid ranges kept), IDs 1..ROWS, written in chunks."""
    settings = load_settings()
    with user_errors():
        from bankrisk.data.synthesize import synthesize_file

        written = synthesize_file(resolve_data(data, settings), output, rows, seed)
    Console().print(f"{written:,} synthetic customers written to {output}")


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


@app.command()
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
    codes and warnings, as the API gives them. Exit code 2 on bad input (nothing written)."""
    settings = load_settings()
    directory = model_dir or settings.model_dir
    if engine is Engine.spark:
        with user_errors():
            from bankrisk.portfolio.spark import score_with_spark

            summary = score_with_spark(
                directory, input_path, output, master=master, skip_invalid=skip_invalid
            )
    else:
        if master is not None:
            with user_errors():
                raise BankRiskError("--master is for --engine spark")
        with user_errors():
            from bankrisk.portfolio.local import score_file
            from bankrisk.portfolio.progress import progress_bar

            with progress_bar(console) as on_progress:
                summary = score_file(
                    directory, input_path, output, chunk_rows, skip_invalid, on_progress
                )
    _print_score_summary(summary)


def _print_score_summary(summary: Any) -> None:
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


# ---- bankrisk monitor ---------------------------------------------------------------------

LogOption = Annotated[
    str | None,
    typer.Option(
        "--log",
        help="SQLAlchemy URL of the prediction log (or "
        f"{env_name('prediction_log')}). {settings_default('prediction_log')}",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ReportOption = Annotated[
    Path | None, typer.Option("--report", help="Also write a self-contained HTML report here.")
]


def _parse_time(value: str | None, option: str) -> Any:
    """An ISO 8601 time as an aware UTC datetime (a naive one is taken as UTC)."""
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BankRiskError(
            f"{option}: {value!r} is not an ISO 8601 time (e.g. 2026-11-01 or 2026-11-01T12:00:00Z)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _open_log(settings: Settings, url: str | None) -> Any:
    """The prediction log to read: its URL must name an existing store (never `off`)."""
    try:
        from sqlalchemy.engine import make_url

        from bankrisk.prediction_log.store import PredictionLogError, open_store
    except ModuleNotFoundError as exc:
        raise BankRiskError(
            f"`bankrisk monitor` needs the monitor extra ({exc.name} is missing): "
            "pip install 'bankrisk[monitor]'"
        ) from None
    chosen = url or settings.prediction_log
    if chosen.strip().lower() == "off":
        raise BankRiskError(
            f"--log: the prediction log is off ({env_name('prediction_log')}=off): "
            "give the URL of a log to read"
        )
    try:
        parsed = make_url(chosen)
    except Exception:
        parsed = None
    if parsed is not None and parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).is_file():
            raise PredictionLogError(f"--log {chosen}: no such SQLite file {database}")
    return open_store(
        chosen,
        pseudonymise=settings.prediction_log_pseudonymise,
        salt=settings.prediction_log_salt.get_secret_value() or None,
    )


def _jsonable(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null."""
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _print_json(result: Any) -> None:
    sys.stdout.write(json.dumps(_jsonable(result), indent=2) + "\n")


@contextmanager
def monitor_errors() -> Iterator[None]:
    """`user_errors`, plus missing monitor libraries and malformed references as one line."""
    with user_errors():
        try:
            yield
        except ModuleNotFoundError as exc:
            raise BankRiskError(
                f"`bankrisk monitor` needs the monitor extra ({exc.name} is missing): "
                "pip install 'bankrisk[monitor]'"
            ) from None
        except ValueError as exc:
            raise BankRiskError(str(exc)) from None


@monitor_app.command("drift")
def monitor_drift(
    log: LogOption = None,
    model_dir: ModelDirOption = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Window start, ISO 8601 (UTC if no zone).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Window end (exclusive), ISO 8601.")
    ] = None,
    as_json: JsonOption = False,
    report: ReportOption = None,
    warn: Annotated[
        float | None,
        typer.Option(help=f"PSI warn threshold. {settings_default('drift_warn_psi')}"),
    ] = None,
    alert: Annotated[
        float | None,
        typer.Option(help=f"PSI alert threshold. {settings_default('drift_alert_psi')}"),
    ] = None,
) -> None:
    """PSI of every input, engineered feature, the PD and the score in the window against the
    bundle's frozen training bins. Exit code 0: no alert; 1: an alert; 2: bad input."""
    settings = load_settings()
    with monitor_errors():
        start, end = _parse_time(since, "--since"), _parse_time(until, "--until")
        if start is not None and end is not None and start >= end:
            raise BankRiskError(f"--since {since} is not before --until {until}")
        warn_at = settings.drift_warn_psi if warn is None else warn
        alert_at = settings.drift_alert_psi if alert is None else alert
        if not 0 < warn_at < alert_at:
            raise BankRiskError(f"--warn {warn_at} and --alert {alert_at}: need 0 < warn < alert")
        from bankrisk.monitoring.drift import run_drift

        directory = model_dir or settings.model_dir
        if not directory.is_dir():
            raise BankRiskError(f"--model-dir {directory}: no such bundle folder")
        store = _open_log(settings, log)
        result = run_drift(store, directory, start, end, warn_at, alert_at)
        if report is not None:
            from bankrisk.monitoring.report import drift_html, write_report

            write_report(drift_html(result), report)
    for note in result["notes"]:
        console.print(f"[bold yellow]note:[/] {escape(note)}", highlight=False)
    if as_json:
        _print_json(result)
    else:
        _print_drift(result)
    raise typer.Exit(1 if result["alerts"] else 0)


def _print_drift(result: dict[str, Any]) -> None:
    out = Console(width=120)
    table = Table(title=f"Drift: {result['n']:,} logged predictions vs the training bins")
    for column in ("characteristic", "PSI", "status", "expected PSI", "test", "p-value"):
        table.add_column(column, justify="left" if column == "characteristic" else "right")
    rows = [*result["inputs"].items()]
    rows += [(f"feature:{k}", v) for k, v in result["features"].items()]
    rows += [(k, result[k]) for k in ("pd", "score") if result.get(k)]
    colours = {"ok": "green", "warn": "yellow", "alert": "bold red"}
    for name, item in rows:
        if name.startswith("feature:") and item["status"] == "ok":
            continue
        p_value = item.get("p_value")
        table.add_row(
            name,
            f"{item['psi']:.4f}",
            f"[{colours[item['status']]}]{item['status']}[/]",
            f"{item['expected_psi']:.4f}",
            str(item.get("test", "-")),
            "-" if p_value is None else f"{p_value:.3g}",
        )
    out.print(table)
    ok_features = sum(1 for v in result["features"].values() if v["status"] == "ok")
    out.print(f"{ok_features} engineered features ok (not listed).")
    out.print(f"Alerts: {', '.join(result['alerts']) or 'none'}")


@monitor_app.command("outcomes")
def monitor_outcomes(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="CSV or Parquet with customer_id (or ID) and defaulted (or "
            "'default payment next month').",
        ),
    ],
    log: LogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Join observed defaults to logged predictions (by customer id; idempotent)."""
    settings = load_settings()
    with monitor_errors():
        from bankrisk.monitoring.outcomes import ingest_outcomes

        store = _open_log(settings, log)
        result = ingest_outcomes(store, data)
    if as_json:
        _print_json(result)
        return
    Console(soft_wrap=True).print(
        f"{result['file']}: {result['rows']:,} customers ({result['inserted']:,} new, "
        f"{result['updated']:,} updated, {result['unchanged']:,} unchanged); "
        f"matched to logged predictions: {result['matched']:,}, unmatched: "
        f"{result['unmatched']:,}"
    )


@monitor_app.command("performance")
def monitor_performance(
    log: LogOption = None, as_json: JsonOption = False, report: ReportOption = None
) -> None:
    """Realised AUC, Brier, ECE and KS (overall, by version, by month), the PD back-test per
    grade (Jeffreys, binomial, Hosmer-Lemeshow) and approval fairness by month."""
    settings = load_settings()
    with monitor_errors():
        from bankrisk.monitoring.performance import run_performance

        store = _open_log(settings, log)
        result = run_performance(store)
        if report is not None:
            from bankrisk.monitoring.report import performance_html, write_report

            write_report(performance_html(result), report)
    if as_json:
        _print_json(result)
        return
    out = Console(width=120)

    def f(value: Any) -> str:
        return "-" if value is None else f"{value:.4f}"

    out.print(
        f"{result['matched']:,} matched predictions: ROC AUC {f(result['roc_auc'])}, Brier "
        f"{f(result['brier'])}, ECE {f(result['ece'])}, KS {f(result['ks'])}"
    )
    table = Table(title="PD back-test per grade")
    for column in ("grade", "n", "defaults", "mean PD", "default rate", "Jeffreys p", "flag"):
        table.add_column(column, justify="right")
    for g in result["grades"]:
        table.add_row(
            g["grade"],
            f"{g['n']:,}",
            f"{g['defaults']:,}",
            f"{g['mean_pd']:.4f}",
            f"{g['default_rate']:.4f}",
            f"{g['jeffreys_p']:.3g}",
            "[bold red]PD too low[/]" if g["underestimated"] else "",
        )
    out.print(table)
    hl = result["hosmer_lemeshow"]
    out.print(
        f"Hosmer-Lemeshow over {hl['dof']} grades: {hl['statistic']:.2f}, p {f(hl['p_value'])}"
    )
    months = Table(title="By month")
    for column in ("month", "n", "ROC AUC", "Brier", "ECE", "KS"):
        months.add_column(column, justify="right")
    for m in result["by_month"]:
        months.add_row(
            m["month"], f"{m['n']:,}", f(m["roc_auc"]), f(m["brier"]), f(m["ece"]), f(m["ks"])
        )
    out.print(months)


@monitor_app.command("prune")
def monitor_prune(
    older_than: Annotated[
        float, typer.Option("--older-than", help="Delete predictions older than this many days.")
    ],
    log: LogOption = None,
) -> None:
    """Retention: delete logged predictions older than DAYS (and outcomes left unmatched)."""
    settings = load_settings()
    with monitor_errors():
        store = _open_log(settings, log)
        gone = store.prune(older_than)
    Console(soft_wrap=True).print(
        f"deleted {gone['predictions']:,} predictions older than {older_than:g} days and "
        f"{gone['outcomes']:,} unmatched outcomes"
    )


@features_app.command("materialize")
def features_materialize(
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
    with user_errors():
        from bankrisk.feature_store.materialize import materialize

        when = _parse_time(as_of, "--as-of")
        done = materialize(repo or settings.feature_repo or Path("feature_repo"), data, when)
    Console(soft_wrap=True).print(
        f"{done.customers:,} customers as of {done.as_of.isoformat(timespec='seconds')} "
        f"written to {done.snapshot} and materialized online in {done.seconds:.1f} s",
        highlight=False,
    )


def main(argv: list[str] | None = None) -> Any:
    return app(argv)

"""`bankrisk monitor drift|outcomes|performance|prune`: the prediction log, monitored."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bankrisk.cli.common import (
    ModelDirOption,
    console,
    env_name,
    load_settings,
    needs_extra,
    print_json_text,
    settings_default,
)
from bankrisk.cli.score import Engine
from bankrisk.config import Settings
from bankrisk.errors import UsageError
from bankrisk.times import parse_time

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from bankrisk.monitoring.drift import CharacteristicDrift, DriftOverTime, DriftResult
    from bankrisk.monitoring.performance import FairnessReport, PerformanceResult
    from bankrisk.prediction_log.columns import Selection
    from bankrisk.prediction_log.store import PredictionStore

app = typer.Typer(
    help="Monitor logged predictions: drift, outcomes, back-testing, retention.",
    no_args_is_help=True,
)

# The libraries of the `monitor` extra (pyproject.toml).
MONITOR_LIBRARIES = (
    *("sqlalchemy", "pg8000", "pandas", "pyarrow", "scipy", "sklearn", "matplotlib"),
    *("adbc_driver_manager", "adbc_driver_sqlite", "adbc_driver_postgresql", "sqlglot"),
)

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
SinceOption = Annotated[
    str | None, typer.Option("--since", help="Window start, ISO 8601 (UTC if no zone).")
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Window end (exclusive), ISO 8601.")
]
RoleOption = Annotated[
    str,
    typer.Option(
        "--role",
        help="Rows of this model role (champion: the decisions taken; challenger, shadow, "
        "canary, portfolio), or 'all'.",
    ),
]
VersionOption = Annotated[
    str | None, typer.Option("--model-version", help="Only rows of this model version.")
]
RunOption = Annotated[
    str | None,
    typer.Option(
        "--run", help="Only the rows of this portfolio run (`bankrisk score --log|--record`)."
    ),
]
WarnOption = Annotated[
    float | None, typer.Option(help=f"PSI warn threshold. {settings_default('drift_warn_psi')}")
]
AlertOption = Annotated[
    float | None,
    typer.Option(help=f"PSI alert threshold. {settings_default('drift_alert_psi')}"),
]
EngineOption = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="local: the SQL prediction log (--log); spark: a Spark run record (--record), "
        "read and counted by Spark where it lies.",
    ),
]
RecordOption = Annotated[
    str | None,
    typer.Option(
        "--record",
        help="--engine spark: the run record folder `bankrisk score --engine spark --record` "
        "writes (portfolio rows: --role is portfolio).",
    ),
]
MasterOption = Annotated[
    str | None,
    typer.Option("--master", help=r"Spark master URL (--engine spark). \[default: local[*]]"),
]
DemographicsOption = Annotated[
    Path | None,
    typer.Option(
        "--demographics",
        help="A .csv or .parquet of customer_id and any of SEX, MARRIAGE, AGE, EDUCATION, "
        "joined by customer id (pseudonymised as the log's) for the fairness section; its "
        "values take precedence over the log's.",
    ),
]
MetricsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--metrics-file",
        help="Also write the fairness verdict as Prometheus metrics to this .prom file "
        "(node-exporter's textfile collector), for the alert BankriskFourFifthsRuleFailed.",
    ),
]
ALL_ROLES = "all"
# `monitor performance`'s exit code when a protected attribute fails the four-fifths rule
# over the window (0: passed or not judged; 2: bad input; docs/monitoring.md).
FOUR_FIFTHS_FAILED_EXIT = 3


def _selection(
    since: str | None, until: str | None, role: str, version: str | None, run: str | None
) -> Selection:
    from bankrisk.prediction_log.columns import Selection

    return Selection(
        since=parse_time(since, "--since"),
        until=parse_time(until, "--until"),
        role=None if role == ALL_ROLES else role,
        version=version,
        run=run,
    )


@contextmanager
def monitor_extra() -> Iterator[None]:
    """Around imports of monitoring code: a missing library of the extra is one clear line."""
    with needs_extra("bankrisk monitor", "monitor", MONITOR_LIBRARIES):
        yield


def _record_folder(engine: Engine, record: str | None, master: str | None, role: str) -> str | None:
    """The run record to monitor on Spark (None: the SQL log); UsageError for options that
    do not go together."""
    if engine is Engine.spark:
        from bankrisk.prediction_log.runs import ROLE

        if record is None:
            raise UsageError(
                "--engine spark monitors a Spark run record: give --record FOLDER (written by "
                "`bankrisk score --engine spark --record FOLDER`)"
            )
        if role not in ("champion", ROLE, ALL_ROLES):  # champion: the default
            raise UsageError(f"--role {role}: a run record holds {ROLE} rows only")
        return record
    if record is not None:
        raise UsageError("--record is a Spark run record: monitor it with --engine spark")
    if master is not None:
        raise UsageError("--master is for --engine spark")
    return None


def _role(role: str, record: str | None) -> str:
    """The role of the rows to monitor: a run record's are all `portfolio`."""
    if record is None:
        return role
    from bankrisk.prediction_log.runs import ROLE

    return ROLE


def _spark(master: str | None) -> SparkSession:
    """The Spark session that monitors a run record."""
    with needs_extra("bankrisk monitor --engine spark", "spark", ("pyspark",)):
        from bankrisk.monitoring.spark_monitor import monitor_session

        return monitor_session(master)


def _open_log(settings: Settings, url: str | None) -> PredictionStore:
    with monitor_extra():
        from bankrisk.monitoring.outcomes import open_log

    return open_log(
        url or settings.prediction_log,
        pseudonymise=settings.prediction_log_pseudonymise,
        salt=settings.prediction_log_salt.get_secret_value() or None,
    )


@app.command("drift")
def drift(
    log: LogOption = None,
    model_dir: ModelDirOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    role: RoleOption = "champion",
    model_version: VersionOption = None,
    run: RunOption = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by", help="Each day, week (from Monday) or month (UTC) of the window apart."
        ),
    ] = None,
    as_json: JsonOption = False,
    report: ReportOption = None,
    warn: WarnOption = None,
    alert: AlertOption = None,
    engine: EngineOption = Engine.local,
    record: RecordOption = None,
    master: MasterOption = None,
) -> None:
    """PSI of every input, engineered feature, the PD and the score in the window against the
    bundle's frozen training bins (the champion's rows by default; a Spark run record's,
    counted by Spark, with --record). Exit code 0: no alert (by period: none in the latest
    period); 1: an alert; 2: bad input."""
    settings = load_settings()
    folder = _record_folder(engine, record, master, role)
    if folder is not None and log is not None:
        raise UsageError("--log is read by --engine local: --engine spark reads --record")
    selection = _selection(since, until, _role(role, folder), model_version, run)
    with monitor_extra():
        from bankrisk.monitoring.drift import check_thresholds, check_window
        from bankrisk.prediction_log.columns import PERIODS

    warn_at = settings.drift_warn_psi if warn is None else warn
    alert_at = settings.drift_alert_psi if alert is None else alert
    check_window(selection.since, selection.until)  # before the log is opened: bad options
    check_thresholds(warn_at, alert_at)
    if by is not None and by not in PERIODS:
        raise UsageError(f"--by {by!r}: expected one of {', '.join(PERIODS)}")
    if by is not None and report is not None:
        raise UsageError("--report shows one window: use it without --by")
    directory = model_dir or settings.model_dir
    if by is not None:
        if folder is None:
            from bankrisk.monitoring.drift import run_drift_over_time

            store = _open_log(settings, log)
            over_time = run_drift_over_time(store, directory, selection, by, warn_at, alert_at)
        else:
            from bankrisk.monitoring.spark_monitor import record_drift_over_time

            over_time = record_drift_over_time(
                _spark(master), folder, directory, selection, by, warn_at, alert_at
            )
        _show_drift_over_time(over_time, as_json)
        return
    if folder is None:
        from bankrisk.monitoring.drift import run_drift

        result = run_drift(_open_log(settings, log), directory, selection, warn_at, alert_at)
    else:
        from bankrisk.monitoring.spark_monitor import record_drift

        result = record_drift(_spark(master), folder, directory, selection, warn_at, alert_at)
    if report is not None:
        with monitor_extra():
            from bankrisk.monitoring.report import drift_html, write_report

        write_report(drift_html(result), report)
    for note in result.notes:
        console.print(f"[bold yellow]note:[/] {escape(note)}", highlight=False)
    if as_json:
        print_json_text(result.to_json())
    else:
        _print_drift(result)
    raise typer.Exit(1 if result.alerts else 0)


def _show_drift_over_time(result: DriftOverTime, as_json: bool) -> None:
    if as_json:
        print_json_text(result.to_json())
    else:
        _print_drift_over_time(result)
    raise typer.Exit(1 if result.latest_alerts else 0)


def _psi_cell(item: CharacteristicDrift | None) -> str:
    if item is None:
        return "-"
    colour = {"ok": "", "warn": "yellow", "alert": "bold red"}[item.status]
    return f"[{colour}]{item.psi:.4f}[/]" if colour else f"{item.psi:.4f}"


# The periods a table shows (the JSON has them all).
SHOWN_PERIODS = 12


def _print_drift_over_time(result: DriftOverTime) -> None:
    out = Console(width=200)
    shown = result.periods[-SHOWN_PERIODS:]
    table = Table(title=f"PSI by {result.by} ({result.rows}) against the training bins")
    table.add_column("characteristic")
    for period in shown:
        table.add_column(period.period, justify="right")
    by_name = [dict(period.result.characteristics()) for period in shown]
    for name in by_name[-1]:
        cells = [items.get(name) for items in by_name]
        if name.startswith("feature:") and all(c is None or c.status == "ok" for c in cells):
            continue
        table.add_row(name, *(_psi_cell(c) for c in cells))
    table.add_row("rows", *(f"{p.result.n:,}" for p in shown))
    out.print(table)
    if len(result.periods) > len(shown):
        out.print(f"The last {len(shown)} of {len(result.periods)} periods; --json has all.")
    out.print(f"Alerts in the latest period: {', '.join(result.latest_alerts) or 'none'}")


def _print_drift(result: DriftResult) -> None:
    out = Console(width=120)
    title = f"Drift: {result.n:,} logged predictions ({result.rows}) vs the training bins"
    table = Table(title=title)
    for column in ("characteristic", "PSI", "status", "expected PSI", "test", "p-value"):
        table.add_column(column, justify="left" if column == "characteristic" else "right")
    colours = {"ok": "green", "warn": "yellow", "alert": "bold red"}
    for name, item in result.characteristics():
        if name.startswith("feature:") and item.status == "ok":
            continue
        p_value = item.p_value
        table.add_row(
            name,
            f"{item.psi:.4f}",
            f"[{colours[item.status]}]{item.status}[/]",
            f"{item.expected_psi:.4f}",
            "-" if item.test is None else item.test.test,
            "-" if p_value is None else f"{p_value:.3g}",
        )
    out.print(table)
    ok_features = sum(1 for v in result.features.values() if v.status == "ok")
    out.print(f"{ok_features} engineered features ok (not listed).")
    out.print(f"Alerts: {', '.join(result.alerts) or 'none'}")


@app.command("outcomes")
def outcomes(
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
    with monitor_extra():
        from bankrisk.monitoring.outcomes import ingest_outcomes

    result = ingest_outcomes(_open_log(settings, log), data)
    if as_json:
        print_json_text(result.to_json())
        return
    Console(soft_wrap=True).print(
        f"{result.file}: {result.rows:,} customers ({result.inserted:,} new, "
        f"{result.updated:,} updated, {result.unchanged:,} unchanged); "
        f"matched to logged predictions: {result.matched:,}, unmatched: "
        f"{result.unmatched:,}"
    )


@app.command("performance")
def performance(
    log: LogOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    role: RoleOption = "champion",
    model_version: VersionOption = None,
    run: RunOption = None,
    as_json: JsonOption = False,
    report: ReportOption = None,
    engine: EngineOption = Engine.local,
    record: RecordOption = None,
    master: MasterOption = None,
    demographics: DemographicsOption = None,
    metrics_file: MetricsFileOption = None,
) -> None:
    """Realised AUC, Brier, ECE and KS (overall, by version, by month), the PD back-test per
    grade (Jeffreys both ways, binomial, Hosmer-Lemeshow) and approval fairness by month, on
    each customer's latest prediction in the window (the champion's by default; a Spark run
    record's, ranked and joined by Spark with the outcomes ingested into the log, with
    --record). Exit code 3 when a protected attribute fails the four-fifths rule over the
    window, 2 on bad input, else 0."""
    settings = load_settings()
    folder = _record_folder(engine, record, master, role)
    selection = _selection(since, until, _role(role, folder), model_version, run)
    with monitor_extra():
        from bankrisk.monitoring.demographics import load_demographics
        from bankrisk.monitoring.performance import run_performance

    store = _open_log(settings, log)
    joined = None if demographics is None else load_demographics(demographics, store.customer_key)
    if folder is None and joined is None:
        result = run_performance(store, selection)
    elif folder is None:
        result = run_performance(store, selection, joined)
    else:
        from bankrisk.monitoring.spark_monitor import record_performance

        result = record_performance(_spark(master), folder, store, selection, joined)
    if metrics_file is not None:
        from bankrisk.monitoring.fairness_metrics import write_metrics_file

        write_metrics_file(metrics_file, result.fairness)
    if report is not None:
        with monitor_extra():
            from bankrisk.monitoring.report import performance_html, write_report

        write_report(performance_html(result), report)
    if as_json:
        print_json_text(result.to_json())
    else:
        _print_performance(result)
    if result.fairness.failed:
        raise typer.Exit(FOUR_FIFTHS_FAILED_EXIT)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _print_fairness(out: Console, fairness: FairnessReport) -> None:
    """Each attribute's groups on the customers that carry it, and a FAILED line for each
    protected attribute below the four-fifths rule, with the approval rates behind it."""
    from bankrisk.monitoring.performance import VERDICT_ATTRIBUTES

    source = f", joined from {fairness.demographics}" if fairness.demographics else ""
    out.print(
        f"Fairness (approval: not declined; adverse impact ratio: lowest / highest approval "
        f"rate of groups of {fairness.min_group_size} or more; four-fifths rule: ratio >= "
        f"{fairness.four_fifths_threshold:g}{escape(source)}):"
    )
    for attribute, found in fairness.overall.items():
        groups = ", ".join(
            f"{g} {_percent(v.approval_rate)} (n {v.n:,})" for g, v in found.groups.items()
        )
        if found.four_fifths_rule_passed is None:
            verdict = "not judged (fewer than two groups large enough)"
        elif attribute not in VERDICT_ATTRIBUTES:
            verdict = f"ratio {found.adverse_impact_ratio:.4f} (not a protected attribute)"
        else:
            passed = "passed" if found.four_fifths_rule_passed else "[bold red]FAILED[/]"
            verdict = f"ratio {found.adverse_impact_ratio:.4f}: {passed}"
        out.print(
            f"  {attribute}: {found.carried:,} of {found.customers:,} customers carry it: "
            f"{escape(groups) or 'no group'}; {verdict}"
        )
    for attribute in fairness.failed:
        found = fairness.overall[attribute]
        low, high = found.lowest, found.highest
        assert low is not None and high is not None and found.adverse_impact_ratio is not None
        out.print(
            f"[bold red]FAILED[/]: the four-fifths rule on {attribute}: adverse impact ratio "
            f"{found.adverse_impact_ratio:.4f} < {fairness.four_fifths_threshold:g} (approval "
            f"{_percent(found.groups[low].approval_rate)} for {escape(low)} against "
            f"{_percent(found.groups[high].approval_rate)} for {escape(high)})"
        )
    failing_months = [
        f"{attribute} in {m.month} ({m.attributes[attribute].adverse_impact_ratio:.4f})"
        for m in fairness.by_month
        for attribute in VERDICT_ATTRIBUTES
        if attribute in m.attributes and m.attributes[attribute].four_fifths_rule_passed is False
    ]
    if failing_months:
        out.print(f"  Below the four-fifths rule by month: {', '.join(failing_months)}")


def _print_performance(result: PerformanceResult) -> None:
    out = Console(width=120)
    overall = result.overall
    out.print(f"Rows: {result.rows}: {result.customers:,} customers.")
    out.print(
        f"{overall.n:,} with an outcome: ROC AUC {_number(overall.roc_auc)}, Brier "
        f"{_number(overall.brier)}, ECE {_number(overall.ece)}, KS {_number(overall.ks)}"
    )
    table = Table(title="PD back-test per grade (Jeffreys test each way: flagged at p < 0.05)")
    columns = (
        "grade",
        "n",
        "defaults",
        "mean PD",
        "default rate",
        "p too low",
        "p too high",
        "flag",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for g in result.grades:
        table.add_row(
            g.grade,
            f"{g.n:,}",
            f"{g.defaults:,}",
            f"{g.mean_pd:.4f}",
            f"{g.default_rate:.4f}",
            f"{g.jeffreys_p:.3g}",
            f"{g.jeffreys_p_over:.3g}",
            "[bold red]PD too low[/]"
            if g.underestimated
            else "[bold yellow]PD too high[/]"
            if g.overestimated
            else "",
        )
    out.print(table)
    hl = result.hosmer_lemeshow
    out.print(f"Hosmer-Lemeshow over {hl.dof} grades: {hl.statistic:.2f}, p {_number(hl.p_value)}")
    months = Table(title="By month")
    for column in ("month", "n", "ROC AUC", "Brier", "ECE", "KS"):
        months.add_column(column, justify="right")
    for m in result.by_month:
        months.add_row(
            m.month,
            f"{m.metrics.n:,}",
            _number(m.metrics.roc_auc),
            _number(m.metrics.brier),
            _number(m.metrics.ece),
            _number(m.metrics.ks),
        )
    out.print(months)
    _print_fairness(out, result.fairness)


@app.command("prune")
def prune(
    older_than: Annotated[
        float, typer.Option("--older-than", help="Delete predictions older than this many days.")
    ],
    log: LogOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be deleted.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Delete without asking.")] = False,
) -> None:
    """Retention: delete logged predictions older than DAYS (and outcomes left unmatched).

    Asks before deleting unless --yes (without a terminal to ask on, --yes is needed)."""
    settings = load_settings()
    store = _open_log(settings, log)
    out = Console(soft_wrap=True)
    going = store.prune(older_than, dry_run=True)
    what = (
        f"{going.predictions:,} predictions logged before {going.cutoff:%Y-%m-%d %H:%M} UTC "
        f"(older than {older_than:g} days) and {going.outcomes:,} outcomes left unmatched"
    )
    if dry_run:
        out.print(f"would delete {what} from {store}", highlight=False)
        return
    if not going.predictions and not going.outcomes:
        out.print(f"nothing to delete: no prediction older than {older_than:g} days")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                f"would delete {what}: not confirmed (--yes deletes, --dry-run counts)"
            )
        typer.confirm(f"Delete {what} from {store}?", abort=True)
    gone = store.prune(older_than)
    out.print(
        f"deleted {gone.predictions:,} predictions older than {older_than:g} days and "
        f"{gone.outcomes:,} unmatched outcomes",
        highlight=False,
    )

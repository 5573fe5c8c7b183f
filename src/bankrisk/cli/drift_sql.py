"""`bankrisk monitor drift-sql` and `bankrisk monitor export`: the scheduled drift job on Google
Cloud (docs/drift-job.md). `register` adds both to the `monitor` group."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from bankrisk.cli.common import (
    ModelDirOption,
    env_name,
    load_settings,
    needs_extra,
    settings_default,
)
from bankrisk.cli.monitor import AlertOption, VersionOption, WarnOption
from bankrisk.errors import UsageError
from bankrisk.times import parse_time

if TYPE_CHECKING:
    from bankrisk.monitoring.drift_sql import Bound

# The libraries `drift-sql` needs: sqlglot, and the monitor extra's scipy (the score's bins
# come from monitoring.drift, as for `bankrisk monitor drift`).
DRIFT_SQL_LIBRARIES = ("sqlglot", "scipy", "numpy", "sqlalchemy")
EXPORT_LIBRARIES = ("sqlalchemy", "pg8000")
SCHEMAS = ("predictions", "results")


def _bound(value: str | None, option: str) -> Bound:
    """A window end: `@NAME` is a query parameter, anything else an ISO 8601 time."""
    from bankrisk.monitoring.drift_sql import Parameter

    if value is None:
        return None
    text = value.strip()
    if text.startswith("@"):
        name = text[1:]
        if not name.isidentifier():
            raise UsageError(f"{option} {value!r}: a parameter is @NAME (letters, digits, _)")
        return Parameter(name)
    return parse_time(text, option)


def drift_sql(
    model_dir: ModelDirOption = None,
    dialect: Annotated[
        str, typer.Option("--dialect", help="bigquery, postgres or duckdb.")
    ] = "bigquery",
    table: Annotated[
        str,
        typer.Option(
            "--table", help="The predictions table: TABLE, DATASET.TABLE or PROJECT.DATASET.TABLE."
        ),
    ] = "predictions",
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Window start (inclusive): ISO 8601 (UTC if no zone) or @PARAM."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="Window end (exclusive): ISO 8601 or @PARAM (e.g. @run_time)."
        ),
    ] = None,
    lookback_hours: Annotated[
        int | None,
        typer.Option("--lookback-hours", help="Window start = --until minus this many hours."),
    ] = None,
    role: Annotated[str, typer.Option("--role", help="Model role of the rows.")] = "champion",
    model_version: VersionOption = None,
    warn: WarnOption = None,
    alert: AlertOption = None,
    insert_into: Annotated[
        str | None,
        typer.Option("--insert-into", help="Append the result rows to this drift-results table."),
    ] = None,
    fail_on_alert: Annotated[
        bool,
        typer.Option(
            "--fail-on-alert",
            help="BigQuery: a script that appends to --insert-into, then fails (RAISE) naming "
            "the characteristics in alert: what the scheduled query runs.",
        ),
    ] = False,
    no_dedupe: Annotated[
        bool,
        typer.Option("--no-dedupe", help="Do not keep one copy per row id (a log has none)."),
    ] = False,
    schema: Annotated[
        str | None,
        typer.Option(
            "--schema",
            help="Print the BigQuery JSON schema of a table instead: predictions or results.",
        ),
    ] = None,
) -> None:
    """Print the drift query generated from the bundle's frozen bins: the PSI of every input,
    the PD and the score in a window, one row per characteristic (window, model, n, psi,
    status), for BigQuery, PostgreSQL or DuckDB."""
    with needs_extra("bankrisk monitor drift-sql", "monitor", DRIFT_SQL_LIBRARIES):
        from bankrisk.monitoring import drift_sql as sql

    if schema is not None:
        if schema not in SCHEMAS:
            raise UsageError(f"--schema {schema!r}: expected predictions or results")
        if schema == "predictions":
            with needs_extra("bankrisk monitor drift-sql", "monitor", DRIFT_SQL_LIBRARIES):
                from bankrisk.prediction_log.pubsub_export import bigquery_schema
            fields = bigquery_schema()
        else:
            fields = sql.results_schema()
        sys.stdout.write(json.dumps(fields, indent=2) + "\n")
        return
    if dialect not in sql.DIALECTS:
        raise UsageError(f"--dialect {dialect!r}: expected one of {', '.join(sql.DIALECTS)}")
    if fail_on_alert and (dialect != "bigquery" or insert_into is None):
        raise UsageError(
            "--fail-on-alert is a BigQuery script: it needs --dialect bigquery and --insert-into"
        )
    if lookback_hours is not None and lookback_hours < 1:
        raise UsageError(f"--lookback-hours must be >= 1, got {lookback_hours}")
    settings = load_settings()
    warn_at = settings.drift_warn_psi if warn is None else warn
    alert_at = settings.drift_alert_psi if alert is None else alert
    sql.check_thresholds(warn_at, alert_at)
    window = sql.Window(
        since=_bound(since, "--since"),
        until=_bound(until, "--until"),
        lookback=None if lookback_hours is None else timedelta(hours=lookback_hours),
        role=role,
        model_version=model_version,
    )
    bins = sql.bins_from_bundle(model_dir or settings.model_dir)
    query = sql.drift_select(
        bins, table=table, window=window, warn=warn_at, alert=alert_at, dedupe=not no_dedupe
    )
    if fail_on_alert:
        assert insert_into is not None
        text = sql.bigquery_alert_script(query, insert_into, bins, window.until)
    elif insert_into is not None:
        text = sql.render(sql.insert_results(query, insert_into), dialect) + ";\n"
    else:
        text = sql.render(query, dialect) + ";\n"
    sys.stdout.write(text)


def export(
    to: Annotated[str, typer.Option("--to", help="Where to publish: pubsub://PROJECT/TOPIC.")],
    log: Annotated[
        str | None,
        typer.Option(
            "--log",
            help="SQLAlchemy URL of the prediction log (or "
            f"{env_name('prediction_log')}). {settings_default('prediction_log')}",
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Rows per confirmed batch.")
    ] = 500,
    settle_seconds: Annotated[
        float,
        typer.Option("--settle-seconds", help="Leave rows logged this recently for the next run."),
    ] = 60.0,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for Pub/Sub per batch.")
    ] = 30.0,
    max_rows: Annotated[
        int | None, typer.Option("--max-rows", help="Publish at most this many rows.")
    ] = None,
) -> None:
    """Publish the logged predictions after the watermark to Pub/Sub, one JSON message per row
    in the BigQuery table's schema; the watermark moves only once Pub/Sub confirms them."""
    with needs_extra("bankrisk monitor export", "monitor", EXPORT_LIBRARIES):
        from bankrisk.prediction_log.pubsub_export import (
            PubSubPublisher,
            export_predictions,
            parse_destination,
        )
        from bankrisk.prediction_log.store import open_store

    destination = parse_destination(to)
    if timeout <= 0:
        raise UsageError(f"--timeout must be > 0, got {timeout}")
    settings = load_settings()
    store = open_store(log or settings.prediction_log)
    if store is None:
        raise UsageError("--log: the prediction log is off: give the URL of a log to export")
    publisher = PubSubPublisher(destination, timeout=timeout)
    try:
        result = export_predictions(
            store.engine,
            publisher,
            batch_size=batch_size,
            settle_seconds=settle_seconds,
            max_rows=max_rows,
        )
    finally:
        publisher.close()
        store.close()
    ids = f" (ids {result.first_id}..{result.last_id})" if result.published else ""
    settling = "; newer rows left for the next run" if result.left_settling else ""
    Console(soft_wrap=True).print(
        f"published {result.published:,} rows{ids} to {result.destination}; "
        f"watermark {result.watermark_before} -> {result.watermark}{settling}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add `drift-sql` and `export` to the `monitor` group."""
    app.command("drift-sql")(drift_sql)
    app.command("export")(export)

"""The drift query: PSI of the logged inputs, the PD and the score against the bundle's frozen
bins, as SQL generated from the bundle (never written by hand per model).

One sqlglot expression tree, rendered for `bigquery` (the scheduled job, docs/drift-job.md),
`postgres` (the Cloud SQL prediction log) and `duckdb` (the tests run the BigQuery rendering,
transpiled by sqlglot, on DuckDB). The bins come from the same code as `bankrisk monitor
drift`: `FrozenBins.from_profile` for the inputs and the PD, `score_bins` for the score.

The query, over a `predictions` table with the prediction log's columns:

1. `logged`: the rows of one role (`champion` by default; optionally one model version) in the
   window, one copy per row id (`dedupe`: a Pub/Sub export is at-least-once, so the BigQuery
   table may hold a row twice; the log itself never does).
2. `binned`: per characteristic, each finite value's bin by a CASE over the inner edges, the
   rule of `FrozenBins.index`: bin i holds inner[i-1] <= x < inner[i]. NULL, NaN and infinite
   values are left out, as `bankrisk monitor drift` leaves them out (`x > -inf AND x < inf`
   is false for all three in BigQuery, PostgreSQL and DuckDB).
3. `counts`, `totals` and `reference` (the bins' training shares as literals), then the PSI,
   sum over bins of (a - e) * ln(a / e) with both shares floored at `EPSILON`, exactly
   `psi_from_counts`; a characteristic with no rows has n = 0 and a NULL PSI (NaN in Python).
4. One row per characteristic, in `bankrisk monitor drift`'s order (the inputs the bundle has
   bins for, then `pd` and `score`): `RESULT_COLUMNS`.

The window: each end is a `datetime` (a TIMESTAMP literal), a `Parameter` (a named query
parameter: `@name` in BigQuery, `$name` in DuckDB, `%(name)s` in PostgreSQL) or None (open);
`lookback` makes the start `until - lookback` (the scheduled job: `until=Parameter("run_time")`,
BigQuery's scheduled-query parameter). The start is inclusive, the end exclusive, as in
`bankrisk monitor drift --since/--until`. Floats are written as `CAST('repr' AS FLOAT64)`: each
engine parses the shortest round-trip text to the same double, where a bare decimal literal
would be a NUMERIC or DECIMAL in PostgreSQL and DuckDB.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlglot import exp

from bankrisk.errors import BankRiskError, MissingBundleError
from bankrisk.monitoring.psi import EPSILON, FrozenBins
from bankrisk.prediction_log.columns import CHAMPION
from bankrisk.schema import FIELD_NAMES

Dialect = Literal["bigquery", "postgres", "duckdb"]
DIALECTS: tuple[Dialect, ...] = ("bigquery", "postgres", "duckdb")
# What the BigQuery script raises when a characteristic is in alert: the alert policy's
# notification quotes it (docs/drift-job.md).
ALERT_MESSAGE = "bankrisk drift alert: "


class DriftSqlError(BankRiskError):
    """The drift query cannot be generated: no bundle, no reference bins, bad options."""


@dataclass(frozen=True)
class Parameter:
    """A named query parameter for a window end (a TIMESTAMP)."""

    name: str


Bound = datetime | Parameter | None


@dataclass(frozen=True)
class ResultColumn:
    """A column of the query's result (and of the BigQuery drift-results table)."""

    name: str
    bigquery_type: str
    mode: str
    description: str


RESULT_COLUMNS: tuple[ResultColumn, ...] = (
    ResultColumn("window_start", "TIMESTAMP", "NULLABLE", "Window start (inclusive; NULL: open)"),
    ResultColumn("window_end", "TIMESTAMP", "NULLABLE", "Window end (exclusive; NULL: open)"),
    ResultColumn("model_name", "STRING", "NULLABLE", "The bundle whose frozen bins were used"),
    ResultColumn("model_version", "STRING", "NULLABLE", "Its version"),
    ResultColumn("characteristic", "STRING", "REQUIRED", "An input field, pd or score"),
    ResultColumn("n", "INTEGER", "REQUIRED", "Rows with a finite value in the window"),
    ResultColumn("psi", "FLOAT", "NULLABLE", "PSI against the frozen bins (NULL: no rows)"),
    ResultColumn("status", "STRING", "REQUIRED", "ok, warn or alert by the PSI thresholds"),
)


@dataclass(frozen=True)
class Characteristic:
    """One characteristic of the query: its name in the results, the `predictions` column it
    reads and its frozen bins."""

    name: str
    column: str
    bins: FrozenBins


@dataclass(frozen=True)
class DriftBins:
    """What the query compares with, read from a bundle's metadata: the characteristics with
    bins (inputs, then `pd` and `score`), the names left out for want of bins, the bundle."""

    characteristics: tuple[Characteristic, ...]
    skipped: tuple[str, ...]
    model_name: str | None
    model_version: str | None


@dataclass(frozen=True)
class Window:
    """Which rows: [since, until) (`Bound`s; `lookback` makes since = until - lookback), one
    model role, optionally one model version."""

    since: Bound = None
    until: Bound = None
    lookback: timedelta | None = None
    role: str = CHAMPION
    model_version: str | None = None


def _frozen(name: str, profile: Any) -> FrozenBins:
    try:
        return FrozenBins.from_profile(name, profile)
    except ValueError as exc:
        raise DriftSqlError(str(exc)) from None


def bins_from_metadata(metadata: Mapping[str, Any]) -> DriftBins:
    """The characteristics of a bundle's `metadata.json`; DriftSqlError when it has no
    reference bins for any input or the PD."""
    # here, not at the top: the schemas (`results_schema`) need neither numpy nor scipy
    from bankrisk.monitoring.drift import PD_REFERENCE, score_bins

    reference = metadata.get("reference_distributions")
    if not isinstance(reference, Mapping) or not reference:
        raise DriftSqlError(
            "the bundle's metadata.json has no reference_distributions (no frozen bins to "
            "compare with): retrain it with `bankrisk train`"
        )
    found: list[Characteristic] = []
    skipped: list[str] = []
    for name in FIELD_NAMES:
        if name in reference:
            found.append(Characteristic(name, name, _frozen(name, reference[name])))
        else:
            skipped.append(name)
    if PD_REFERENCE in reference:
        found.append(Characteristic("pd", "pd", _frozen(PD_REFERENCE, reference[PD_REFERENCE])))
        scaling = (metadata.get("policy") or {}).get("score_scaling")
        if scaling:
            try:
                found.append(
                    Characteristic("score", "score", score_bins(reference[PD_REFERENCE], scaling))
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise DriftSqlError(f"the bundle's policy.score_scaling: {exc!r}") from None
        else:
            skipped.append("score")
    else:
        skipped.extend(["pd", "score"])
    if not found:
        raise DriftSqlError(
            "the bundle's reference_distributions have bins for no logged input nor the PD"
        )
    model, version = metadata.get("name"), metadata.get("version")
    return DriftBins(
        tuple(found),
        tuple(skipped),
        None if model is None else str(model),
        None if version is None else str(version),
    )


def bins_from_bundle(model_dir: Path) -> DriftBins:
    """`bins_from_metadata` of the bundle in `model_dir` (checked against its manifest)."""
    from bankrisk.bundle.store import read_metadata

    if not model_dir.is_dir():
        raise MissingBundleError(f"--model-dir {model_dir}: no such bundle folder")
    return bins_from_metadata(read_metadata(model_dir))


def check_thresholds(warn: float, alert: float) -> None:
    """0 < warn < alert, the rule of BANKRISK_DRIFT_WARN_PSI and BANKRISK_DRIFT_ALERT_PSI."""
    if not (math.isfinite(warn) and math.isfinite(alert) and 0 < warn < alert):
        raise DriftSqlError(f"--warn {warn} and --alert {alert}: need 0 < warn < alert")


# ---- building blocks ---------------------------------------------------------------------------


def _float(value: float) -> exp.Expression:
    """A double literal every engine reads as the same double (see the module docstring)."""
    if math.isnan(value):
        text = "NaN"
    elif math.isinf(value):
        text = "Infinity" if value > 0 else "-Infinity"
    else:
        text = repr(float(value))
    return exp.cast(exp.Literal.string(text), exp.DataType.build("DOUBLE"))


def _timestamp(value: datetime) -> exp.Expression:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return exp.cast(exp.Literal.string(aware.isoformat()), exp.DataType.build("TIMESTAMPTZ"))


def _bound(value: Bound) -> exp.Expression:
    if value is None:
        return exp.cast(exp.null(), exp.DataType.build("TIMESTAMPTZ"))
    if isinstance(value, Parameter):
        return exp.cast(exp.Placeholder(this=value.name), exp.DataType.build("TIMESTAMPTZ"))
    return _timestamp(value)


def _column(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _table(name: str) -> exp.Table:
    """A table name, `dataset.table` or `project.dataset.table`, every part quoted (BigQuery
    project ids may hold hyphens)."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise DriftSqlError(
            f"--table {name!r}: expected TABLE, DATASET.TABLE or PROJECT.DATASET.TABLE"
        )
    names = [exp.to_identifier(p, quoted=True) for p in parts]
    table, db, catalog = [*names[::-1], None, None][:3]
    return exp.Table(this=table, db=db, catalog=catalog)


def _window_ends(window: Window) -> tuple[exp.Expression | None, exp.Expression | None]:
    until = None if window.until is None else _bound(window.until)
    if window.lookback is not None:
        if until is None:
            raise DriftSqlError("a lookback needs the window's end (--until)")
        if window.since is not None:
            raise DriftSqlError("give the window's start or a lookback, not both")
        seconds = window.lookback.total_seconds()
        if seconds <= 0 or not seconds.is_integer():
            raise DriftSqlError("the lookback must be a whole number of seconds > 0")
        since: exp.Expression | None = exp.TimestampSub(
            this=until.copy(), expression=exp.Literal.number(int(seconds)), unit=exp.var("SECOND")
        )
    else:
        since = None if window.since is None else _bound(window.since)
    if (
        isinstance(window.since, datetime)
        and isinstance(window.until, datetime)
        and window.since >= window.until
    ):
        raise DriftSqlError(
            f"--since {window.since.isoformat()} is not before --until {window.until.isoformat()}"
        )
    return since, until


def _logged(
    table: str, window: Window, columns: Sequence[str], dedupe: bool
) -> tuple[exp.Select, exp.Expression, exp.Expression]:
    since, until = _window_ends(window)
    conditions: list[exp.Expression] = [_column("model_role").eq(exp.Literal.string(window.role))]
    if window.model_version is not None:
        conditions.append(_column("model_version").eq(exp.Literal.string(window.model_version)))
    if since is not None:
        conditions.append(_column("time") >= since)
    if until is not None:
        conditions.append(_column("time") < until)
    condition = exp.and_(*conditions)
    wanted = [_column(c) for c in columns]
    if dedupe:
        first = exp.Window(
            this=exp.RowNumber(),
            partition_by=[_column("id")],
            order=exp.Order(expressions=[exp.Ordered(this=_column("id"))]),
        )
        ranked = (
            exp.select(*wanted, exp.alias_(first, "copy_number"))
            .from_(_table(table))
            .where(condition)
        )
        select = (
            exp.select(*[_column(c) for c in columns])
            .from_(ranked.subquery("ranked"))
            .where(exp.column("copy_number").eq(1))
        )
    else:
        select = exp.select(*wanted).from_(_table(table)).where(condition)
    start = since if since is not None else _bound(None)
    end = until if until is not None else _bound(None)
    return select, start, end


def _bin_case(column: exp.Expression, bins: FrozenBins) -> exp.Expression:
    """The bin of a value: the number of inner edges <= x (`FrozenBins.index`)."""
    inner = bins.inner
    if not inner:
        return exp.Literal.number(0)
    case = exp.Case()
    for i, edge in enumerate(inner):
        case = case.when(column.copy() < _float(edge), exp.Literal.number(i))
    return case.else_(exp.Literal.number(len(inner)))


def _binned(characteristics: Sequence[Characteristic]) -> exp.Expression:
    selects: list[exp.Select] = []
    for item in characteristics:
        value = _column(item.column)
        finite = exp.and_(value.copy() > _float(-math.inf), value.copy() < _float(math.inf))
        selects.append(
            exp.select(
                exp.alias_(exp.Literal.string(item.name), "characteristic"),
                exp.alias_(_bin_case(value, item.bins), "bin"),
            )
            .from_("logged")
            .where(finite)
        )
    union: exp.Expression = selects[0]
    for select in selects[1:]:
        union = exp.union(union, select, distinct=False, copy=False)
    return union


def _reference(characteristics: Sequence[Characteristic]) -> exp.Select:
    rows = [
        exp.tuple_(
            exp.Literal.number(k),
            exp.Literal.string(item.name),
            exp.Literal.number(i),
            _float(share),
        )
        for k, item in enumerate(characteristics)
        for i, share in enumerate(item.bins.proportions)
    ]
    values = exp.Values(
        expressions=rows,
        alias=exp.TableAlias(
            this=exp.to_identifier("reference_bins"),
            columns=[exp.to_identifier(c) for c in ("seq", "characteristic", "bin", "share")],
        ),
    )
    return exp.select("seq", "characteristic", "bin", "share").from_(values)


def drift_select(
    bins: DriftBins,
    *,
    table: str = "predictions",
    window: Window | None = None,
    warn: float,
    alert: float,
    dedupe: bool = True,
) -> exp.Select:
    """The drift query (a sqlglot tree): one row per characteristic, `RESULT_COLUMNS`."""
    check_thresholds(warn, alert)
    window = window or Window()
    items = bins.characteristics
    columns = ["id", *dict.fromkeys(item.column for item in items)] if dedupe else None
    logged, start, end = _logged(
        table, window, columns or list(dict.fromkeys(i.column for i in items)), dedupe
    )
    eps = _float(EPSILON)
    count = exp.column("rows_in_bin", "c")
    n = exp.column("n", "t")
    actual = exp.Greatest(
        this=exp.Div(
            this=exp.cast(exp.func("COALESCE", count, exp.Literal.number(0)), "DOUBLE"),
            expression=exp.cast(n.copy(), "DOUBLE"),
        ),
        expressions=[eps.copy()],
    )
    expected = exp.Greatest(this=exp.column("share", "r"), expressions=[eps.copy()])
    terms = (
        exp.select(
            exp.column("seq", "r"),
            exp.column("characteristic", "r"),
            exp.alias_(n, "n"),
            exp.alias_(expected, "expected"),
            exp.alias_(actual, "actual"),
        )
        .from_(exp.alias_(exp.to_table("reference"), "r", table=True))
        .join(
            exp.alias_(exp.to_table("totals"), "t", table=True),
            on=exp.column("characteristic", "t").eq(exp.column("characteristic", "r")),
            join_type="left",
        )
        .join(
            exp.alias_(exp.to_table("counts"), "c", table=True),
            on=exp.and_(
                exp.column("characteristic", "c").eq(exp.column("characteristic", "r")),
                exp.column("bin", "c").eq(exp.column("bin", "r")),
            ),
            join_type="left",
        )
    )
    a, e = exp.column("actual"), exp.column("expected")
    psi_sum = exp.Sum(this=exp.Mul(this=exp.Paren(this=a - e), expression=exp.Ln(this=a / e)))
    rows_n = exp.Max(this=exp.column("n"))
    psi = (
        exp.select(
            "seq",
            "characteristic",
            exp.alias_(
                exp.cast(exp.func("COALESCE", rows_n, exp.Literal.number(0)), "BIGINT"), "n"
            ),
            exp.alias_(
                exp.Case().when(rows_n.copy().is_(exp.null()), exp.null()).else_(psi_sum), "psi"
            ),
        )
        .from_("terms")
        .group_by("seq", "characteristic")
    )
    value = exp.column("psi")
    status = (
        exp.Case()
        .when(
            exp.or_(value.copy().is_(exp.null()), value.copy() < _float(warn)),
            exp.Literal.string("ok"),
        )
        .when(value.copy() >= _float(alert), exp.Literal.string("alert"))
        .else_(exp.Literal.string("warn"))
    )

    def text(value: str | None) -> exp.Expression:
        return exp.cast(exp.null() if value is None else exp.Literal.string(value), "VARCHAR")

    final = (
        exp.select(
            exp.alias_(start, "window_start"),
            exp.alias_(end, "window_end"),
            exp.alias_(text(bins.model_name), "model_name"),
            exp.alias_(text(bins.model_version), "model_version"),
            "characteristic",
            "n",
            "psi",
            exp.alias_(status, "status"),
        )
        .from_("psi")
        .order_by("seq")
    )
    counts = (
        exp.select("characteristic", "bin", exp.alias_(exp.Count(this=exp.Star()), "rows_in_bin"))
        .from_("binned")
        .group_by("characteristic", "bin")
    )
    totals = (
        exp.select("characteristic", exp.alias_(exp.Sum(this=exp.column("rows_in_bin")), "n"))
        .from_("counts")
        .group_by("characteristic")
    )
    ctes = {
        "logged": logged,
        "binned": _binned(items),
        "counts": counts,
        "totals": totals,
        "reference": _reference(items),
        "terms": terms,
        "psi": psi,
    }
    for name, body in ctes.items():  # copy=False: the tree is large, and built here only
        final = final.with_(name, as_=body, copy=False)
    return final


def insert_results(select: exp.Select, results_table: str) -> exp.Insert:
    """`INSERT INTO results_table (RESULT_COLUMNS) <the drift query>`."""
    target = exp.Schema(
        this=_table(results_table),
        expressions=[exp.to_identifier(c.name) for c in RESULT_COLUMNS],
    )
    return exp.Insert(this=target, expression=select)


def render(expression: exp.Expression, dialect: Dialect, *, pretty: bool = True) -> str:
    """The SQL text of an expression in a dialect."""
    if dialect not in DIALECTS:
        raise DriftSqlError(f"--dialect {dialect!r}: expected one of {', '.join(DIALECTS)}")
    return expression.sql(dialect=dialect, pretty=pretty)


def bigquery_alert_script(
    select: exp.Select, results_table: str, bins: DriftBins, until: Bound
) -> str:
    """A BigQuery script for the scheduled query: append the drift rows to `results_table`,
    then fail the run (RAISE, naming the characteristics in alert) when any is in alert, so
    that the run's error log entry is what the alert policy matches (docs/drift-job.md)."""
    if until is None:
        raise DriftSqlError("--fail-on-alert needs the window's end (--until)")
    insert = render(insert_results(select, results_table), "bigquery")
    version = exp.column("model_version")
    same_bundle = (
        version.is_(exp.null())
        if bins.model_version is None
        else version.eq(exp.Literal.string(bins.model_version))
    )
    in_alert = (
        exp.select(
            exp.func(
                "STRING_AGG",
                exp.Distinct(expressions=[exp.column("characteristic")]),
                exp.Literal.string(", "),
            )
        )
        .from_(_table(results_table))
        .where(
            exp.and_(
                exp.column("window_end").eq(_bound(until)),
                same_bundle,
                exp.column("status").eq(exp.Literal.string("alert")),
            )
        )
    )
    alerts = render(in_alert, "bigquery", pretty=False)
    return (
        "DECLARE alerts STRING;\n"
        f"{insert};\n"
        f"SET alerts = ({alerts});\n"
        "IF alerts IS NOT NULL THEN\n"
        f"  RAISE USING MESSAGE = CONCAT({json.dumps(ALERT_MESSAGE)}, alerts);\n"
        "END IF;\n"
    )


def results_schema() -> list[dict[str, str]]:
    """The BigQuery JSON schema of the drift-results table (`bq mk --table ... SCHEMA`)."""
    return [
        {"name": c.name, "type": c.bigquery_type, "mode": c.mode, "description": c.description}
        for c in RESULT_COLUMNS
    ]


# BigQuery's JSON schema types as SQL types sqlglot knows (for `create_table`).
_SQL_TYPES = {
    "INTEGER": "BIGINT",
    "FLOAT": "DOUBLE",
    "STRING": "VARCHAR",
    "TIMESTAMP": "TIMESTAMPTZ",
}


def create_table(schema: Sequence[Mapping[str, str]], table: str) -> exp.Create:
    """`CREATE TABLE table (...)` of a BigQuery JSON schema, to render in any dialect (the
    tests make their DuckDB tables with it, from the same schemas the job gives BigQuery)."""
    columns = []
    for field in schema:
        kind = _SQL_TYPES.get(field["type"])
        if kind is None:
            raise DriftSqlError(f"no SQL type for the BigQuery type {field['type']!r}")
        constraints = (
            [exp.ColumnConstraint(kind=exp.NotNullColumnConstraint())]
            if field.get("mode") == "REQUIRED"
            else []
        )
        columns.append(
            exp.ColumnDef(
                this=exp.to_identifier(field["name"], quoted=True),
                kind=exp.DataType.build(kind),
                constraints=constraints,
            )
        )
    return exp.Create(
        this=exp.Schema(this=_table(table), expressions=columns), kind="TABLE", exists=False
    )

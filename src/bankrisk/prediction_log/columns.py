"""The prediction log read for monitoring: chosen rows, chosen columns, in chunks of arrays.

Monitoring reads millions of rows: a Python dict per row (`PredictionStore.read_predictions`)
costs kilobytes each. Here the database filters the rows (`Selection`: a window, a model role
and version, a portfolio run) and returns only the columns asked for, which arrive in chunks
of at most `CHUNK_ROWS` rows as numpy arrays: memory is bounded by the chunk, whatever the
size of the log. Numeric columns come as float64 (NULL as NaN), text columns as object arrays.
The period of each row (its UTC day, ISO week or month) can be asked for as a column too,
computed by the database. SQLite and PostgreSQL are read through their Arrow (ADBC) drivers,
the next chunk read by a thread while the caller works on the current one (`read_query`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

import adbc_driver_manager
import numpy as np
from pyarrow.lib import ArrowException
from sqlalchemy import ColumnElement, Float, Select, String, and_, cast, func, select, true
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from bankrisk.prediction_log.store import (
    PredictionLogError,
    PredictionStore,
    as_utc,
    predictions,
    short_error,
)

CHUNK_ROWS = 65_536
CHAMPION = "champion"
Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
PERIOD = "period"  # the name of the period column in a chunk
Chunk = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Selection:
    """Which logged predictions: `since <= time < until` (None: open), a model role (None:
    every role; the champion's by default, the decisions taken), a model version (None: any)
    and a request id (a portfolio run's id; None: any), within a range of row ids
    (`after < id <= last`: where a recorded run's rows are, `runs.RecordedRun`; None: any)."""

    since: datetime | None = None
    until: datetime | None = None
    role: str | None = CHAMPION
    version: str | None = None
    run: str | None = None
    ids: tuple[int, int] | None = None

    def condition(self) -> ColumnElement[bool]:
        c = predictions.c
        clauses: list[ColumnElement[bool]] = []
        if self.since is not None:
            clauses.append(c.time >= as_utc(self.since))
        if self.until is not None:
            clauses.append(c.time < as_utc(self.until))
        if self.role is not None:
            clauses.append(c.model_role == self.role)
        if self.version is not None:
            clauses.append(c.model_version == self.version)
        if self.run is not None:
            clauses.append(c.request_id == self.run)
        if self.ids is not None:
            clauses.extend((c.id > self.ids[0], c.id <= self.ids[1]))
        return and_(true(), *clauses)

    def describe(self) -> str:
        """The selection in words, for reports (`champion rows, run R7, from
        2026-01-01T00:00:00+00:00 to now`)."""
        role = "every role" if self.role is None else f"{self.role} rows"
        parts = [role]
        if self.version is not None:
            parts.append(f"model version {self.version}")
        if self.run is not None:
            parts.append(f"run {self.run}")
        if self.since is not None or self.until is not None:
            since = self.since.isoformat() if self.since else "the first row"
            until = self.until.isoformat() if self.until else "now"
            parts.append(f"from {since} to {until}")
        return ", ".join(parts)


class PeriodOf(FunctionElement[str]):
    """The UTC period of a time column as text: `YYYY-MM-DD` (a day, or the Monday of an ISO
    week) or `YYYY-MM` (a month). One subclass per period: SQLAlchemy caches a compiled
    statement by its elements' classes, not by their attributes."""

    type = String()
    inherit_cache = True
    by: ClassVar[Period]


class _Day(PeriodOf):
    inherit_cache = True
    by = "day"


class _Week(PeriodOf):
    inherit_cache = True
    by = "week"


class _Month(PeriodOf):
    inherit_cache = True
    by = "month"


def period_of(time: Any, by: Period) -> PeriodOf:
    kinds: dict[Period, type[PeriodOf]] = {"day": _Day, "week": _Week, "month": _Month}
    return kinds[by](time)


@compiles(PeriodOf, "sqlite")
def _sqlite_period(element: PeriodOf, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite stores the time as naive UTC text: `2026-03-01 12:00:00.000000`.
    time = compiler.process(element.clauses, **kw)
    if element.by == "day":
        return f"substr({time}, 1, 10)"
    if element.by == "month":
        return f"substr({time}, 1, 7)"
    return f"date({time}, '-6 days', 'weekday 1')"  # the Monday on or before


@compiles(PeriodOf)
def _sql_period(element: PeriodOf, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL: `date_trunc('week', ...)` is the Monday of the ISO week.
    time = compiler.process(element.clauses, **kw)
    form = "YYYY-MM" if element.by == "month" else "YYYY-MM-DD"
    return f"to_char(date_trunc('{element.by}', {time} AT TIME ZONE 'UTC'), '{form}')"


class Unindexed(FunctionElement[str]):
    """A text column to partition or sort by, which SQLite must not read through an index.

    Each customer's latest prediction is a window partitioned by customer: through the
    customer index SQLite fetches every row of a large log at random, much slower than a
    scan and a sort (docs/performance.md, "Monitoring at scale"). `+column` keeps the index
    from the ordering only (the WHERE still uses the time index); other databases plan it
    themselves."""

    type = String()
    inherit_cache = True


@compiles(Unindexed, "sqlite")
def _sqlite_unindexed(element: Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)


@compiles(Unindexed)
def _sql_unindexed(element: Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


def _numeric(name: str) -> bool:
    return isinstance(predictions.c[name].type, Float)


def read_columns(
    store: PredictionStore,
    columns: Sequence[str],
    selection: Selection,
    *,
    by: Period | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[Chunk]:
    """The selected rows' `columns` (and, with `by`, their `PERIOD`), chunk by chunk, in no
    particular order. PredictionLogError when the store cannot be read."""
    numeric = [predictions.c[n] for n in columns if _numeric(n)]
    text: list[ColumnElement[Any]] = [predictions.c[n] for n in columns if not _numeric(n)]
    if by is not None:
        text.append(period_of(predictions.c.time, by).label(PERIOD))
    query = select(*numeric, *text).where(selection.condition())
    return read_query(store, query, len(numeric), chunk_rows)


def read_query(
    store: PredictionStore, query: Select[Any], numeric: int, chunk_rows: int = CHUNK_ROWS
) -> Iterator[Chunk]:
    """The rows of a query on the log, chunk by chunk, as arrays named by its columns: the
    first `numeric` columns as float64 (NULL as NaN), the others as object arrays.

    SQLite and PostgreSQL are read with their Arrow (ADBC) drivers, which hand over whole
    columns (PostgreSQL's through `COPY`), several times faster than rows through a Python
    driver; another database through SQLAlchemy."""
    backend = store.engine.url.get_backend_name()
    read = _ARROW_READERS.get(backend, _read_through_sqlalchemy)
    try:
        yield from _read_ahead(read(store, query, numeric, chunk_rows))
    except (SQLAlchemyError, adbc_driver_manager.Error, ArrowException, OSError) as exc:
        raise PredictionLogError(
            f"cannot read the prediction log {store}: {short_error(exc)}"
        ) from exc


def _read_ahead(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """The chunks, the next one read by a thread while the caller works on this one (the
    database and the Arrow drivers work without the GIL): on two cores a monitoring run
    takes about as long as the longer of reading and computing, not their sum. At most two
    chunks are held besides the caller's."""
    ahead: queue.Queue[Chunk | BaseException | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: Chunk | BaseException | None) -> bool:
        """Hand an item over once there is room; False if the caller has stopped."""
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not offer(chunk):
                    return
            offer(None)
        except BaseException as exc:  # handed to the caller, raised there
            offer(exc)
        finally:
            getattr(chunks, "close", lambda: None)()  # its connection, in this thread

    reader = threading.Thread(target=read, name="log-reader", daemon=True)
    reader.start()
    try:
        while (item := ahead.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _read_through_sqlalchemy(
    store: PredictionStore, query: Select[Any], numeric: int, chunk_rows: int
) -> Iterator[Chunk]:
    names = [str(column.key) for column in query.selected_columns]
    with store.engine.connect() as connection:
        options = connection.execution_options(stream_results=True, yield_per=chunk_rows)
        for rows in options.execute(query).partitions():
            chunk: dict[str, np.ndarray] = {}
            if numeric:
                matrix = np.array([row[:numeric] for row in rows], dtype=np.float64)
                chunk.update({n: matrix[:, j] for j, n in enumerate(names[:numeric])})
            for j, name in enumerate(names[numeric:], start=numeric):
                chunk[name] = np.array([row[j] for row in rows], dtype=object)
            yield chunk


# The ADBC SQLite driver infers a column's type from the values of its first batch (an
# all-NULL batch is taken for integers): every number is read as a REAL that is never NULL,
# NULL standing for this value, which no logged number can be.
_NULL = -1.7976931348623157e308


def _read_sqlite_arrow(
    store: PredictionStore, query: Select[Any], numeric: int, chunk_rows: int
) -> Iterator[Chunk]:
    import adbc_driver_sqlite.dbapi

    inner = query.subquery()
    columns = list(inner.c)
    typed = select(
        *(func.ifnull(cast(c, Float), _NULL).label(c.key) for c in columns[:numeric]),
        *(func.ifnull(c, "").label(c.key) for c in columns[numeric:]),
    )
    path = store.engine.url.database or ":memory:"
    with adbc_driver_sqlite.dbapi.connect(path) as connection, connection.cursor() as cursor:
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(chunk_rows)})
        cursor.execute(_literal_sql(store, typed))
        for batch in cursor.fetch_record_batch():
            chunk = _arrays(batch, numeric)
            for name in batch.schema.names[:numeric]:
                chunk[name] = np.where(chunk[name] == _NULL, np.nan, chunk[name])
            yield chunk


# COPY bytes a row that the PostgreSQL driver's batches are sized by (the driver's default is
# 16 MB a batch): larger batches are no faster and hold more at once (docs/performance.md).
_POSTGRESQL_ROW_BYTES = 52


def _read_postgresql_arrow(
    store: PredictionStore, query: Select[Any], numeric: int, chunk_rows: int
) -> Iterator[Chunk]:
    import adbc_driver_postgresql.dbapi

    url = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc_driver_postgresql.dbapi.connect(url) as connection, connection.cursor() as cursor:
        hint = adbc_driver_postgresql.StatementOptions.BATCH_SIZE_HINT_BYTES.value
        cursor.adbc_statement.set_options(**{hint: str(chunk_rows * _POSTGRESQL_ROW_BYTES)})
        cursor.execute(_literal_sql(store, query))
        for batch in cursor.fetch_record_batch():
            yield _arrays(batch, numeric)


def _literal_sql(store: PredictionStore, query: Select[Any]) -> str:
    """The query as SQL text for the store's dialect, values inline (rendered and quoted by
    SQLAlchemy: the Arrow drivers take no SQLAlchemy parameters)."""
    compiled = query.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


def _arrays(batch: Any, numeric: int) -> dict[str, np.ndarray]:
    chunk: dict[str, np.ndarray] = {}
    for j, name in enumerate(batch.schema.names):
        values = batch.column(j).to_numpy(zero_copy_only=False)
        chunk[name] = np.asarray(values, dtype=np.float64) if j < numeric else values.astype(object)
    return chunk


_ARROW_READERS = {"sqlite": _read_sqlite_arrow, "postgresql": _read_postgresql_arrow}


def count_rows(store: PredictionStore, selection: Selection) -> int:
    """How many logged rows the selection holds."""
    query = select(func.count()).select_from(predictions)
    try:
        with store.engine.connect() as connection:
            return int(connection.execute(query.where(selection.condition())).scalar_one())
    except SQLAlchemyError as exc:
        raise PredictionLogError(
            f"cannot read the prediction log {store}: {short_error(exc)}"
        ) from exc


def model_versions(store: PredictionStore, selection: Selection) -> list[tuple[str, str]]:
    """The (model version, role) pairs the selection holds."""
    c = predictions.c
    query = select(c.model_version, c.model_role).where(selection.condition()).distinct()
    try:
        with store.engine.connect() as connection:
            return [(str(v), str(r)) for v, r in connection.execute(query)]
    except SQLAlchemyError as exc:
        raise PredictionLogError(
            f"cannot read the prediction log {store}: {short_error(exc)}"
        ) from exc

"""The portfolio runs recorded in the prediction log, listed without reading their rows.

`bankrisk score --log URL` records a run's customers in `predictions` (role `portfolio`, the
run's id as request id). Listing the runs from there means grouping every row of the log by
request id: seconds on a log of millions of rows. So each run also gets one row in a small
table, `portfolio_runs` (run id, as-of date, model name and version, rows, when recorded),
on the log's `metadata` (`ensure_tables` and `open_store` create it once this module is
imported), written in the same transaction as the run's rows (`inserting_run`): a run is
listed exactly when its rows are in the log. It also keeps the range of row ids the run's rows
fall in (`after_id < id <= last_id`: the transaction's view of the largest id before and after
its inserts), so reading one run is a range of the primary key, not a scan of the log
(`RecordedRun.selection`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, Integer, String, Table, func, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from bankrisk.prediction_log.columns import Selection
from bankrisk.prediction_log.store import (
    PredictionLogError,
    PredictionStore,
    Row,
    UTCDateTime,
    metadata,
    predictions,
    short_error,
)

portfolio_runs = Table(
    "portfolio_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("as_of", UTCDateTime(), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("after_id", BigInteger, nullable=False),
    Column("last_id", BigInteger, nullable=False),
)


@dataclass(frozen=True)
class RunHead:
    """What names a run before its rows are counted."""

    run_id: str
    as_of: datetime
    model_name: str
    model_version: str


@dataclass(frozen=True)
class RecordedRun:
    """A portfolio run as `portfolio_runs` lists it."""

    run_id: str
    as_of: datetime
    model_name: str
    model_version: str
    rows: int
    recorded_at: datetime
    after_id: int
    last_id: int

    @property
    def selection(self) -> Selection:
        """Its rows in the log, by id range and run id (`columns.read_columns`)."""
        return Selection(role=ROLE, run=self.run_id, ids=(self.after_id, self.last_id))


ROLE = "portfolio"  # the model role of a run's rows (portfolio/record.py)


def _largest_id(connection: Connection) -> int:
    return int(connection.execute(select(func.max(predictions.c.id))).scalar() or 0)


@contextmanager
def inserting_run(
    store: PredictionStore, head: RunHead
) -> Iterator[Callable[[Sequence[Row]], int]]:
    """Insert a portfolio run's rows batch by batch (the function yielded) and its row in
    `portfolio_runs`, all in one transaction: kept only if the block ends normally."""
    with store.engine.begin() as connection:
        portfolio_runs.create(connection, checkfirst=True)
        after = _largest_id(connection)
        total = 0

        def insert(rows: Sequence[Row]) -> int:
            nonlocal total
            count = store.insert_rows(connection, rows)
            total += count
            return count

        yield insert
        connection.execute(
            portfolio_runs.insert().values(
                run_id=head.run_id,
                as_of=head.as_of,
                model_name=head.model_name,
                model_version=head.model_version,
                rows=total,
                recorded_at=datetime.now(UTC),
                after_id=after,
                last_id=_largest_id(connection),
            )
        )


def _has_runs(connection: Connection) -> bool:
    """Whether the log has the table (a log no run was recorded in since it was added may
    not: reading creates nothing)."""
    return bool(inspect(connection).has_table(portfolio_runs.name))


def list_runs(store: PredictionStore, limit: int = 500) -> list[RecordedRun]:
    """The recorded runs, newest recorded first (at most `limit`); PredictionLogError when
    the log cannot be read."""
    c = portfolio_runs.c
    query = select(portfolio_runs).order_by(c.recorded_at.desc(), c.run_id).limit(limit)
    try:
        with store.engine.connect() as connection:
            if not _has_runs(connection):
                return []
            found = connection.execute(query).all()
    except SQLAlchemyError as exc:
        raise PredictionLogError(
            f"cannot read the portfolio runs of {store}: {short_error(exc)}"
        ) from exc
    return [RecordedRun(**r._asdict()) for r in found]


def find_run(store: PredictionStore, run_id: str) -> RecordedRun | None:
    """One recorded run by id (None: no such run)."""
    c = portfolio_runs.c
    try:
        with store.engine.connect() as connection:
            if not _has_runs(connection):
                return None
            r = connection.execute(select(portfolio_runs).where(c.run_id == run_id)).first()
    except SQLAlchemyError as exc:
        raise PredictionLogError(
            f"cannot read the portfolio runs of {store}: {short_error(exc)}"
        ) from exc
    return None if r is None else RecordedRun(**r._asdict())

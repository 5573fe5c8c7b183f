"""The prediction log: every scored customer, stored by SQLAlchemy URL (SQLite or PostgreSQL).

Two tables (SQLAlchemy Core, created if missing):

- `predictions`: one row per scored customer: request id, time (UTC), model name, version and
  role (`champion`, `canary` or `shadow`: serving/challenger.py), customer id, the 23 inputs
  as received (one numeric column per UCI field), PD, score, grade, decision, reason codes
  (JSON text) and latency in milliseconds. Indexed on time and customer id.
- `outcomes`: one row per customer id: the observed default flag, the file it came from and
  when it was ingested. Ingesting the same file again changes nothing (`upsert_outcomes`).

A row to insert is a `Row`: a tuple of the `predictions` columns' values in `COLUMNS` order
(all but the id; `reason_codes` already JSON text, `time` a datetime). The service builds them
in its writer process (`bankrisk.prediction_log.rows`). There is one way in, for the writers
and for tests alike: `insert_predictions(rows)`, which is `to_record` per row then
`insert_records` (the thread writer calls the two itself, to drop a malformed row alone):
on SQLite the driver's `executemany` on tuples, on PostgreSQL through pg8000 one `COPY` per
batch, elsewhere SQLAlchemy's multi-row inserts.

With pseudonymisation on, the store keeps an HMAC-SHA256 of each customer id under a secret
salt instead of the id, in both tables, so that outcomes still join to predictions.

This module needs the standard library, SQLAlchemy and a driver only (no numpy, no pandas):
the service's log writer runs on it.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.sql import Executable

from bankrisk.errors import BankRiskError
from bankrisk.schema import FIELD_NAMES

OFF = "off"


class PredictionLogError(BankRiskError):
    """The prediction log cannot be opened, read or written; the message names the URL."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

predictions = Table(
    "predictions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False),
    Column("time", UTCDateTime(), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("model_role", String(16), nullable=False),
    Column("customer_id", String(128), nullable=True),
    *(Column(name, Float, nullable=True) for name in FIELD_NAMES),
    Column("pd", Float, nullable=False),
    Column("score", Float, nullable=False),
    Column("grade", String(8), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("reason_codes", Text, nullable=False),
    Column("latency_ms", Float, nullable=True),
    Index("ix_predictions_time", "time"),
    Index("ix_predictions_customer_id", "customer_id"),
)

# On SQLite a WITHOUT ROWID table: the rows live in the customer id's B-tree, so joining a
# customer's outcome is one look-up, not the key's index and then the row (monitor performance
# joins one per customer: docs/performance.md, "Monitoring at scale"). A log made before keeps
# its table; it is read the same way, only slower.
outcomes = Table(
    "outcomes",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("defaulted", Integer, nullable=False),
    Column("source", String(500), nullable=False),
    Column("ingested_at", UTCDateTime(), nullable=False),
    sqlite_with_rowid=False,
)


# Which rows of each writer session are in the store: the rows a service process's writer
# numbered below `rows` (`Progress`). Advanced in the transaction that inserts them, so a
# writer that restarts or replays its spool skips what is in already: a re-send inserts no
# duplicate (prediction_log/process_writer.py).
progress = Table(
    "log_progress",
    metadata,
    Column("writer", String(64), primary_key=True),
    Column("rows", BigInteger, nullable=False),
    Column("updated", UTCDateTime(), nullable=False),
)


@dataclass(frozen=True)
class Progress:
    """The rows of writer session `writer` numbered below `rows` are in the store."""

    writer: str
    rows: int


# The values of a `Row`, in order: the `predictions` columns but the id.
COLUMNS = tuple(column.name for column in predictions.columns if column.name != "id")
# One scored customer as inserted: its values in `COLUMNS` order (a plain tuple: the writer
# process builds one per customer, and SQLite's driver binds it as it is).
Row = tuple[Any, ...]
CUSTOMER = COLUMNS.index("customer_id")


_QUOTED_COLUMNS = ", ".join('"' + name + '"' for name in COLUMNS)  # SEX, PAY_0: upper case
_COPY = f"COPY predictions ({_QUOTED_COLUMNS}) FROM STDIN WITH (FORMAT csv)"


def _csv_field(value: Any) -> str:
    """A value as COPY's CSV reads it: NULL unquoted and empty, text always quoted (so an
    empty text is not NULL), numbers and times as text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return str(value)


def _copy(connection: Connection, records: Sequence[Row]) -> int:
    """Insert rows with PostgreSQL's COPY: one statement and one stream for the batch,
    several times cheaper for the writer and the server than row-by-row or multi-row
    `INSERT`s (docs/operations.md). Within the caller's transaction."""
    text = "".join(",".join(_csv_field(value) for value in record) + "\n" for record in records)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_COPY, stream=io.StringIO(text))
    finally:
        cursor.close()
    return len(records)


def pseudonym(customer_id: str, salt: str) -> str:
    """HMAC-SHA256 of the customer id under the salt, hex (64 characters)."""
    return hmac.new(salt.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


def normalise_customer_id(value: object) -> str | None:
    """A customer id as text: integral floats (IDs read from a file with gaps) lose `.0`."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    text = str(value).strip()
    return text or None


def redact(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url


def _sqlite_time(value: datetime | None) -> str | None:
    """A `UTCDateTime` bound as SQLAlchemy binds it on SQLite, in a third of the time: naive
    UTC text with microseconds (`2026-03-01 12:00:00.000000`; SQLite compares times as text,
    so a time written without them would fall outside a window that starts there)."""
    if value is None:
        return None
    if value.tzinfo is UTC:  # the log's own rows: the text without its "+00:00"
        return value.isoformat(" ", "microseconds")[:-6]
    return as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL and synchronous=NORMAL: a commit appends to the WAL without waiting for fsync
    (a power cut may lose the last commits, never corrupt the file), and readers such as
    `bankrisk monitor drift` do not block the writer."""
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


@dataclass
class PredictionStore:
    """An open prediction log (`open_store`)."""

    engine: Engine
    url: str
    salt: str | None = None
    _fast: bool = field(init=False, repr=False)  # SQLite: the driver's executemany
    _copies: bool = field(init=False, repr=False)  # PostgreSQL through pg8000: COPY
    _tuples: bool = field(init=False, repr=False)  # records are the rows' tuples

    def __post_init__(self) -> None:
        self._fast = self.engine.dialect.name == "sqlite"
        self._copies = self.engine.dialect.driver == "pg8000"
        self._tuples = self._fast or self._copies

    @property
    def pseudonymised(self) -> bool:
        return self.salt is not None

    def customer_key(self, customer_id: object) -> str | None:
        """What is stored for a customer id: the id, or its pseudonym."""
        text = normalise_customer_id(customer_id)
        if text is None or self.salt is None:
            return text
        return pseudonym(text, self.salt)

    def to_record(self, row: Row) -> Any:
        """What `insert_records` takes for a row: on SQLite and through pg8000 the tuple
        itself (with the customer's key in place of its id), through other drivers a dict
        (column: value). Raises on a row that is not one (the writers drop it, never retry
        it)."""
        customer_id = row[CUSTOMER]
        key = None if customer_id is None else self.customer_key(customer_id)
        if key != customer_id:
            row = (*row[:CUSTOMER], key, *row[CUSTOMER + 1 :])
        if len(row) != len(COLUMNS):
            raise ValueError(f"a row of {len(row)} values, not {len(COLUMNS)}")
        return row if self._tuples else dict(zip(COLUMNS, row, strict=True))

    def values_of(self, record: Any) -> Row:
        """A record's values in `COLUMNS` order (the customer's key as stored): what the
        writer's spool keeps, and `record_of` turns back into a record."""
        return tuple(record) if self._tuples else tuple(record[name] for name in COLUMNS)

    def record_of(self, values: Row) -> Any:
        """The record of `values_of` (no second pseudonymisation)."""
        return values if self._tuples else dict(zip(COLUMNS, values, strict=True))

    def insert_predictions(self, rows: Sequence[Row]) -> int:
        """Insert rows (`Row`) in one transaction; returns how many.

        Raises SQLAlchemyError when the store fails (the writer retries on it)."""
        return self.insert_records([self.to_record(row) for row in rows])

    def insert_records(self, records: Sequence[Any], advance: Sequence[Progress] = ()) -> int:
        """Insert rows made ready by `to_record` in one transaction, with the writer
        sessions' progress they make (`advance`); SQLAlchemyError on failure."""
        with self.engine.begin() as connection:
            inserted = self._insert(connection, records)
            for step in advance:
                self._advance(connection, step)
            return inserted

    def rows_in(self, writer: str) -> int:
        """How many of writer session `writer`'s numbered rows are in the store (all those
        numbered below); SQLAlchemyError when the store fails."""
        query = select(progress.c.rows).where(progress.c.writer == writer)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one_or_none() or 0)

    def _advance(self, connection: Connection, step: Progress) -> None:
        """Record `step` (never moving a session back)."""
        values = {"writer": step.writer, "rows": step.rows, "updated": datetime.now(UTC)}
        connection.execute(self._advance_statement, values)

    @cached_property
    def _advance_statement(self) -> Executable:
        """The upsert of a session's progress, built once (its values are bound per call)."""
        statement = (sqlite if self._fast else postgresql).insert(progress)
        further = case(
            (statement.excluded.rows > progress.c.rows, statement.excluded.rows),
            else_=progress.c.rows,
        )
        upsert: Executable = statement.on_conflict_do_update(
            index_elements=[progress.c.writer],
            set_={"rows": further, "updated": statement.excluded.updated},
        )
        return upsert

    def insert_rows(self, connection: Connection, rows: Sequence[Row]) -> int:
        """Insert rows (`Row`) within the caller's transaction (a portfolio run's, recorded
        whole or not at all: prediction_log/runs.py); returns how many."""
        return self._insert(connection, [self.to_record(r) for r in rows])

    def _insert(self, connection: Connection, records: Sequence[Any]) -> int:
        """On SQLite the tuples go through the driver's `executemany` on the statement
        SQLAlchemy compiled, skipping SQLAlchemy's per-row parameter handling
        (docs/performance.md); `executemany` releases the GIL for every row, which costs
        nothing in the writer process (nothing else there wants its GIL). PostgreSQL through
        pg8000 takes the rows as one `COPY ... FROM STDIN` (`_copy`); other drivers
        SQLAlchemy's multi-row inserts."""
        if not records:
            return 0
        if self._copies:
            return _copy(connection, records)
        if not self._fast:
            connection.execute(predictions.insert(), list(records))
            return len(records)
        statement, processors = self._sqlite_insert
        seen: dict[int, tuple[Any, Any]] = {}  # column -> (last value, its bound form)
        values: list[tuple[Any, ...]] = []
        for record in records:
            row = list(record)
            for i, processor in processors:
                value = row[i]
                last = seen.get(i)
                if last is None or last[0] is not value:  # a request's rows share their time
                    last = seen[i] = (value, processor(value))
                row[i] = last[1]
            values.append(tuple(row))
        connection.exec_driver_sql(statement, values)
        return len(records)

    @cached_property
    def _sqlite_insert(self) -> tuple[str, list[tuple[int, Any]]]:
        """The compiled insert of a `Row`, and the bind processors it needs: SQLAlchemy's
        for this dialect, but none for floats (SQLite's are no-ops: the values are numbers)
        and `_sqlite_time` for times."""
        dialect = self.engine.dialect
        statement = str(predictions.insert().compile(dialect=dialect, column_keys=COLUMNS))
        processors: list[tuple[int, Any]] = []
        for i, name in enumerate(COLUMNS):
            kind = predictions.c[name].type
            if isinstance(kind, UTCDateTime):
                processors.append((i, _sqlite_time))
            elif not isinstance(kind, Float):
                processor = kind.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors.append((i, processor))
        return statement, processors

    def ensure_tables(self) -> None:
        """Create the tables if missing; SQLAlchemyError when the store is unreachable."""
        metadata.create_all(self.engine)

    def read_predictions(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Logged rows with since <= time < until, oldest first, as plain dicts (column: value;
        `reason_codes` decoded)."""
        query = select(predictions).order_by(predictions.c.time, predictions.c.id)
        if since is not None:
            query = query.where(predictions.c.time >= as_utc(since))
        if until is not None:
            query = query.where(predictions.c.time < as_utc(until))
        try:
            with self.engine.connect() as connection:
                rows = [dict(r._mapping) for r in connection.execute(query)]
        except SQLAlchemyError as exc:
            raise PredictionLogError(
                f"cannot read the prediction log {self}: {short_error(exc)}"
            ) from exc
        for row in rows:
            row["reason_codes"] = json.loads(row["reason_codes"] or "[]")
        return rows

    def count_predictions(self) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(select(func.count()).select_from(predictions)).scalar_one()
            )

    def upsert_outcomes(self, flags: Iterable[tuple[object, int]], source: str) -> dict[str, int]:
        """Store observed defaults by customer id: new ids are inserted, a changed flag is
        updated, an identical one is left alone (so a second ingest changes nothing).

        Returns counts: rows, inserted, updated, unchanged, matched (ids with a logged
        prediction), unmatched."""
        latest: dict[str, int] = {}
        for customer_id, flag in flags:
            key = self.customer_key(customer_id)
            if key is not None:
                latest[key] = int(flag)
        counts = {"rows": len(latest), "inserted": 0, "updated": 0, "unchanged": 0}
        now = datetime.now(UTC)
        keys = list(latest)
        try:
            with self.engine.begin() as connection:
                existing: dict[str, int] = {}
                for chunk in _chunks(keys, 500):
                    query = select(outcomes.c.customer_id, outcomes.c.defaulted).where(
                        outcomes.c.customer_id.in_(chunk)
                    )
                    existing.update({r[0]: int(r[1]) for r in connection.execute(query)})
                new = [k for k in keys if k not in existing]
                changed = [k for k in keys if k in existing and existing[k] != latest[k]]
                if new:
                    connection.execute(
                        outcomes.insert(),
                        [
                            {
                                "customer_id": k,
                                "defaulted": latest[k],
                                "source": source,
                                "ingested_at": now,
                            }
                            for k in new
                        ],
                    )
                for k in changed:
                    connection.execute(
                        outcomes.update()
                        .where(outcomes.c.customer_id == k)
                        .values(defaulted=latest[k], source=source, ingested_at=now)
                    )
                matched = 0
                for chunk in _chunks(keys, 500):
                    count = select(func.count(func.distinct(predictions.c.customer_id))).where(
                        predictions.c.customer_id.in_(chunk)
                    )
                    matched += int(connection.execute(count).scalar_one())
        except SQLAlchemyError as exc:
            raise PredictionLogError(
                f"cannot write outcomes to {self}: {short_error(exc)}"
            ) from exc
        counts.update(
            inserted=len(new),
            updated=len(changed),
            unchanged=len(keys) - len(new) - len(changed),
            matched=matched,
            unmatched=len(keys) - matched,
        )
        return counts

    def count_outcomes(self) -> int:
        """How many customers' outcomes are stored."""
        try:
            with self.engine.connect() as connection:
                query = select(func.count()).select_from(outcomes)
                return int(connection.execute(query).scalar_one())
        except SQLAlchemyError as exc:
            raise PredictionLogError(
                f"cannot read outcomes from {self}: {short_error(exc)}"
            ) from exc

    def read_outcomes(self) -> dict[str, int]:
        """customer key -> defaulted (0/1)."""
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(select(outcomes.c.customer_id, outcomes.c.defaulted))
                return {str(r[0]): int(r[1]) for r in rows}
        except SQLAlchemyError as exc:
            raise PredictionLogError(
                f"cannot read outcomes from {self}: {short_error(exc)}"
            ) from exc

    def prune(
        self, older_than_days: float, now: datetime | None = None, *, dry_run: bool = False
    ) -> Pruned:
        """Delete predictions logged more than `older_than_days` ago, and outcomes ingested
        before then that no longer match any prediction; with `dry_run`, only count them.
        Writer sessions last advanced before then go too (`Progress`: no row of theirs can
        be sent again that late)."""
        if not math.isfinite(older_than_days) or older_than_days < 0:
            raise PredictionLogError(
                f"--older-than must be a number of days >= 0, got {older_than_days!r}"
            )
        cutoff = as_utc(now or datetime.now(UTC)) - timedelta(days=older_than_days)
        old = predictions.c.time < cutoff
        kept = predictions.c.customer_id == outcomes.c.customer_id
        orphan = (outcomes.c.ingested_at < cutoff) & ~exists().where(kept & ~old)
        try:
            with self.engine.begin() as connection:
                if dry_run:
                    count = select(func.count())
                    gone = connection.execute(count.select_from(predictions).where(old))
                    orphans = connection.execute(count.select_from(outcomes).where(orphan))
                    return Pruned(int(gone.scalar_one()), int(orphans.scalar_one()), cutoff)
                deleted = connection.execute(delete(predictions).where(old)).rowcount
                unmatched = connection.execute(delete(outcomes).where(orphan)).rowcount
                connection.execute(delete(progress).where(progress.c.updated < cutoff))
        except SQLAlchemyError as exc:
            raise PredictionLogError(f"cannot prune {self}: {short_error(exc)}") from exc
        return Pruned(int(deleted), int(unmatched), cutoff)

    def close(self) -> None:
        self.engine.dispose()

    def __str__(self) -> str:
        return redact(self.url)


@dataclass(frozen=True)
class Pruned:
    """What `prune` deleted (or, on a dry run, would delete): predictions logged before
    `cutoff`, and outcomes ingested before it that match no prediction left."""

    predictions: int
    outcomes: int
    cutoff: datetime


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def short_error(exc: BaseException) -> str:
    """The first line of an error, whitespace folded, at most 300 characters."""
    text = " ".join(str(exc).split("\n")[0].split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def open_store(
    url: str,
    *,
    pseudonymise: bool = False,
    salt: str | None = None,
    connect_timeout: float = 5.0,
    create: bool = True,
    wal: bool = False,
) -> PredictionStore | None:
    """Open the prediction log at a SQLAlchemy URL; None when `url` is `off`.

    Creates the tables if missing (`create`). `wal`: on SQLite, every connection in WAL mode
    with synchronous=NORMAL (`_sqlite_pragmas`: the writer process's store). Raises
    PredictionLogError naming the URL (password hidden) when it is malformed, its driver is
    missing or the store is unreachable; and when pseudonymisation is asked for without a
    salt.
    """
    text = url.strip()
    if text.lower() == OFF:
        return None
    if pseudonymise and not salt:
        raise PredictionLogError(
            "BANKRISK_PREDICTION_LOG_PSEUDONYMISE is on but BANKRISK_PREDICTION_LOG_SALT is "
            "empty: set a secret salt to hash customer ids with"
        )
    shown = redact(text)
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise PredictionLogError(
            f"prediction log URL {shown!r} is not a SQLAlchemy URL "
            "(expected e.g. sqlite:///predictions.db, postgresql+pg8000://user@host/db or off)"
        ) from None
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "postgresql":
        if parsed.get_driver_name() == "pg8000":
            connect_args["timeout"] = connect_timeout
        elif parsed.get_driver_name() in ("psycopg", "psycopg2"):
            connect_args["connect_timeout"] = max(1, math.ceil(connect_timeout))
    elif backend == "sqlite":
        connect_args["timeout"] = connect_timeout
    try:
        engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise PredictionLogError(
            f"prediction log URL {shown!r}: unsupported database or driver ({short_error(exc)})"
        ) from None
    if wal and backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    store = PredictionStore(engine, text, salt if pseudonymise else None)
    if create:
        try:
            metadata.create_all(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise PredictionLogError(
                f"cannot open the prediction log {shown}: {short_error(exc)}"
            ) from None
    return store

"""The service's prediction-log rows: how a request's customers travel to the writer process
and become database rows there.

The request path builds one `ScoredRows` per request (O(1)); the writer
(`bankrisk.prediction_log.process_writer`) serialises it with `ScoredRows.parts()`, one orjson array
per slice of customers (numpy matrices natively), and sends the bytes to its child process.
There `decode_rows` wraps a frame of such parts, and the child's `PredictionLogWriter`
expands it into rows and inserts them through `ServiceStore`. Both directions live here so
that the format has one definition; `ScoredRows.expand()` is the same round trip in one
process.

A row here is a tuple of the `predictions` columns' values in `COLUMNS` order (not a
`PredictionRow` dict): the writer process does little per row (~10 us of CPU: decode, one
tuple, one `executemany` row), since on a busy machine its CPU is taken from the API's.

Light on purpose (orjson, SQLAlchemy, the standard library): the writer process imports this
module and nothing of numpy, the model or the web app.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Float, event

from bankrisk.prediction_log.store import PredictionStore, open_store, predictions
from bankrisk.schema import FIELD_NAMES

if TYPE_CHECKING:
    from bankrisk.core.scorer import ModelRef, Prediction
    from bankrisk.serving.drift_gauge import Rows

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
# The values of a service row, in order: the `predictions` columns but the id.
COLUMNS = tuple(column.name for column in predictions.columns if column.name != "id")
_HEAD = ("request_id", "time", "model_name", "model_version", "model_role", "customer_id")
_TAIL = ("pd", "score", "grade", "decision", "reason_codes", "latency_ms")
if (*_HEAD, *FIELD_NAMES, *_TAIL) != COLUMNS:  # DecodedRows builds rows in this order
    raise RuntimeError(f"the predictions table's columns changed: {COLUMNS}")
_CUSTOMER = _HEAD.index("customer_id")
_INPUTS = len(FIELD_NAMES)


def _plain(value: Any) -> Any:
    """orjson's fallback: numpy scalars and non-contiguous arrays as Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot log a {type(value).__name__}")


class ScoredRows:
    """The customers of one request, as submitted to the log writer: built in O(1) on the
    request path, serialised by the writer (`parts`), expanded into `PredictionRow`s in the
    writer process."""

    __slots__ = ("count", "latency_ms", "model", "request_id", "slices", "when")

    def __init__(
        self,
        request_id: str,
        model: ModelRef,
        slices: list[tuple[Rows, list[Prediction]]],
        latency_ms: float | None,
        when: float | None = None,
    ) -> None:
        self.request_id = request_id
        self.when = time.time() if when is None else when
        self.model = model
        self.slices = slices
        self.latency_ms = latency_ms
        # One slice (a single customer) is the hot path: no generator for it.
        self.count = len(slices[0][1]) if len(slices) == 1 else sum(len(p) for _, p in slices)

    def __len__(self) -> int:
        return self.count

    def parts(self) -> list[tuple[int, bytes]]:
        """(customers, bytes) per slice: the JSON array `decode_rows` reads back."""
        model = self.model
        return [
            (
                len(answers),
                orjson.dumps(
                    (
                        self.request_id,
                        self.when,
                        model["name"],
                        model["version"],
                        model["role"],
                        self.latency_ms,
                        rows,
                        answers,
                    ),
                    option=_NUMPY,
                    default=_plain,
                ),
            )
            for rows, answers in self.slices
            if answers
        ]

    def head(self, count: int) -> ScoredRows:
        """The first `count` customers (what fits in a full buffer)."""
        slices: list[tuple[Rows, list[Prediction]]] = []
        for rows, answers in self.slices:
            take = min(count, len(answers))
            if take <= 0:
                break
            slices.append((rows[:take], answers[:take]))
            count -= take
        return ScoredRows(self.request_id, self.model, slices, self.latency_ms, self.when)

    def expand(self) -> list[tuple[Any, ...]]:
        """The rows (`COLUMNS` order), through the same bytes the writer process reads."""
        payload = b"[" + b",".join(part for _, part in self.parts()) + b"]"
        return decode_rows(payload, self.count).expand()


class DecodedRows:
    """A frame of serialised `ScoredRows` parts, expanded on the writer's thread."""

    __slots__ = ("count", "payload")

    def __init__(self, payload: bytes, count: int) -> None:
        self.payload = payload
        self.count = count

    def __len__(self) -> int:
        return self.count

    def expand(self) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        dumps = orjson.dumps
        for request_id, when, name, version, role, latency, rows, answers in orjson.loads(
            self.payload
        ):
            head = (request_id, datetime.fromtimestamp(when, UTC), name, version, role)
            for raw, p in zip(rows, answers, strict=True):
                if len(raw) != _INPUTS:
                    raise ValueError(f"a row of {len(raw)} inputs, not {_INPUTS}")
                out.append(
                    (
                        *head,
                        p["customer_id"],
                        *raw,
                        p["probability_of_default"],
                        p["score"],
                        p["risk_grade"],
                        p["decision"],
                        dumps(p["reason_codes"]).decode(),
                        latency,
                    )
                )
        if len(out) != self.count:
            raise ValueError(f"frame holds {len(out)} rows, its header says {self.count}")
        return out


def decode_rows(payload: bytes, count: int) -> DecodedRows:
    """The writer process's decoder (`DECODER`)."""
    return DecodedRows(payload, count)


# What the writer process runs (`ProcessLogWriter`'s opener and decoder).
OPENER = f"{__name__}:open_service_store"
DECODER = f"{__name__}:decode_rows"


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


class ServiceStore(PredictionStore):
    """The prediction log as the writer process writes it: rows are `COLUMNS`-ordered tuples
    (`DecodedRows`), turned into records with no per-row dict (`PredictionRow` mappings
    still go through `PredictionStore.to_record`).

    On SQLite the records go through the driver's `executemany` on the statement SQLAlchemy
    compiled, skipping SQLAlchemy's per-row parameter handling, in WAL mode (~5 us of CPU
    per row). `executemany` releases the GIL for every row: that was why the in-process
    writer thread once used multi-row `VALUES` statements; in the writer process nothing
    else wants its GIL, and it costs half the CPU. PostgreSQL keeps SQLAlchemy's own
    multi-row inserts. It writes the same rows as `PredictionStore`
    (tests/serving/test_prediction_log_service.py checks)."""

    def __init__(self, store: PredictionStore) -> None:
        super().__init__(store.engine, store.url, store.salt)
        dialect = self.engine.dialect
        self._fast = dialect.name == "sqlite"
        if self._fast and not event.contains(self.engine, "connect", _sqlite_pragmas):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._insert = str(predictions.insert().compile(dialect=dialect, column_keys=COLUMNS))
        # Bind processors but SQLite's no-op float conversions (the values are numbers).
        self._processors = [
            (i, processor)
            for i, name in enumerate(COLUMNS)
            if not isinstance(predictions.c[name].type, Float)
            and (processor := predictions.c[name].type.bind_processor(dialect)) is not None
        ]

    def to_record(self, row: Any, now: datetime | None = None) -> Any:
        """A tuple row's record: the same tuple on SQLite (with the customer's key), a dict
        on other databases; a `PredictionRow` mapping's: `PredictionStore.to_record`."""
        if not isinstance(row, tuple):
            return super().to_record(row, now)
        customer_id = row[_CUSTOMER]
        key = None if customer_id is None else self.customer_key(customer_id)
        if key != customer_id:
            row = (*row[:_CUSTOMER], key, *row[_CUSTOMER + 1 :])
        return row if self._fast else dict(zip(COLUMNS, row, strict=True))

    def insert_records(self, records: Sequence[Any]) -> int:
        if not self._fast or not records:
            return super().insert_records(records)
        processors = self._processors
        seen: dict[int, tuple[Any, Any]] = {}  # column -> (last value, its bound form)
        values: list[tuple[Any, ...]] = []
        for record in records:
            row = list(record) if isinstance(record, tuple) else [record[c] for c in COLUMNS]
            for i, processor in processors:
                value = row[i]
                last = seen.get(i)
                if last is None or last[0] is not value:  # a request's rows share their time
                    last = seen[i] = (value, processor(value))
                row[i] = last[1]
            values.append(tuple(row))
        with self.engine.begin() as connection:
            connection.exec_driver_sql(self._insert, values)
        return len(records)


def open_service_store(url: str, salt: str | None) -> ServiceStore:
    """The writer process's store (`OPENER`): opened without connecting."""
    store = open_store(url, pseudonymise=salt is not None, salt=salt, create=False)
    if store is None:
        raise ValueError(f"the prediction log is off: {url!r}")
    return ServiceStore(store)

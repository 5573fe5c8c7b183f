"""Writing the prediction log off the hot path: a bounded buffer and a background batch writer.

`PredictionLogWriter.submit(row)` (a `Row`) never blocks on the store and never raises: it
appends the row to an in-memory buffer, or drops it (and counts it) when the buffer already
holds `max_rows` rows. A daemon thread takes up to `batch_size` rows at least every
`flush_seconds` and inserts them in one transaction. When the store is slow or down the
batch is retried with exponential backoff (up to `max_backoff_seconds`); the rows it holds
count against `max_rows`, so memory stays bounded and further rows are dropped and counted
until the store is back, and then the writer carries on by itself. `close(timeout)` writes
everything still buffered (the service calls it on shutdown, SIGTERM included) and stops the
thread.

`submit_group(group)` queues many rows as one item (a `RowGroup`: a batch request's
customers): the hot path takes the lock once and builds no per-row objects; the writer thread
expands the group into rows (`group.expand()`) when it takes it. Its rows count against
`max_rows` like any others; when only part of a group fits, only that part is kept.

Rows that the store rejects for their content (a bad value) are dropped one by one, never
retried forever. Pure Python and SQLAlchemy: no numpy, pandas or serving imports.

`bankrisk serve` runs this writer in a child process (`process_writer.ProcessLogWriter`): in
the API process its thread would compete with the event loop for the GIL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, SQLAlchemyError

from bankrisk.prediction_log.spool import Mark, Spool, SpoolFullError
from bankrisk.prediction_log.store import PredictionStore, Progress, Row

log = logging.getLogger(__name__)


def _transient(exc: BaseException) -> bool:
    """A failure of the store (down, slow, connection lost), not of the rows."""
    if isinstance(exc, OperationalError | DisconnectionError):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or type(exc).__name__ == "InterfaceError"
    return not isinstance(exc, SQLAlchemyError)


class RowGroup(Protocol):
    """Several rows submitted as one item, expanded by the writer thread."""

    def __len__(self) -> int: ...

    def expand(self) -> Sequence[Row]:
        """The group's rows, exactly `len(self)` of them."""
        ...


class _Head:
    """The first `count` rows of a group (the part that fitted in the buffer)."""

    def __init__(self, group: RowGroup, count: int) -> None:
        self.group = group
        self.count = count

    def __len__(self) -> int:
        return self.count

    def expand(self) -> Sequence[Row]:
        return self.group.expand()[: self.count]


Item = Row | RowGroup


@dataclass(frozen=True)
class WriterLimits:
    """How a log writer buffers and retries (the thread writer's, and the process writer's,
    which hands them to the thread writer in its child).

    `max_rows` rows held in memory at most (more are dropped and counted), up to `batch_size`
    rows per insert, a row waits at most `flush_seconds` for its batch; a failing store is
    retried after `initial_backoff_seconds`, doubled up to `max_backoff_seconds`.
    """

    max_rows: int = 10_000
    batch_size: int = 500
    flush_seconds: float = 0.2
    initial_backoff_seconds: float = 0.1
    max_backoff_seconds: float = 5.0

    def __post_init__(self) -> None:
        for name in ("max_rows", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("flush_seconds", "initial_backoff_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not self.max_backoff_seconds >= self.initial_backoff_seconds:
            raise ValueError(
                f"max_backoff_seconds must be >= initial_backoff_seconds "
                f"({self.initial_backoff_seconds!r}), got {self.max_backoff_seconds!r}"
            )


DEFAULT_LIMITS = WriterLimits()
# Rows replayed from the spool per insert: several of its batches at once (the store, just
# back, has the backlog and the new rows to take).
REPLAY_ROWS = 5_000


@dataclass
class _Outcome:
    """What became of a batch's rows: inserted, dropped, or kept in the spool."""

    written: int = 0
    dropped: int = 0
    spooled: int = 0

    def __iadd__(self, other: _Outcome) -> _Outcome:
        self.written += other.written
        self.dropped += other.dropped
        self.spooled += other.spooled
        return self


class PredictionLogWriter:
    """Buffers submitted `Row`s (one by one, or in groups) and inserts them in batches from a
    daemon thread.

    `dropped` counts the rows never written (buffer full, store down too long, rejected
    rows); `on_drop(n)` is called with each such count (the service's Prometheus counter
    `bankrisk_prediction_log_dropped_total`). `written` counts the rows inserted.
    """

    def __init__(
        self,
        store: PredictionStore,
        limits: WriterLimits = DEFAULT_LIMITS,
        *,
        on_drop: Callable[[int], None] | None = None,
        spool: Spool | None = None,
        session: str | None = None,
    ) -> None:
        self.store = store
        self.spool = spool
        # Numbered groups (`submit_group(group, first)`) are written at most once: the rows
        # of `session` numbered below `self._rows_in[session]` are in the store already.
        self.session = session
        self._rows_in: dict[str, int] = {}
        self.skipped = 0  # rows sent again that were in the store already: not inserted twice
        self._replay_at = 0.0  # when to try the store with the spool's head next
        self._replay_backoff = limits.initial_backoff_seconds
        self._spool_refusals = 0  # batches refused in a row (said once in a hundred)
        self.limits = limits
        self.batch_size = min(limits.batch_size, limits.max_rows)
        self._on_drop = on_drop
        # (rows, a row or a group, the number of its first row in `session` or None)
        self._buffer: deque[tuple[int, Item, int | None]] = deque()
        self._buffered = 0  # rows in the buffer (a group counts its rows)
        self._in_flight = 0  # rows taken from the buffer and not yet written or dropped
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._stopping = False
        self._kick = threading.Event()
        self._deadline = float("inf")
        self._tables_ready = False
        self.dropped = 0
        self.written = 0  # inserted into the store (from memory or from the spool)
        self.spooled = 0  # appended to the spool
        self.replayed = 0  # of those, taken out since: inserted (in `written`) or dropped
        self.failures = 0
        self.failing = False  # the store failed the last attempt (cleared by a success)
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
        self._thread.start()

    # ---- the hot path ---------------------------------------------------------------------

    def submit(self, row: Row) -> bool:
        """Queue one row; False (and counted as dropped) when the buffer is full or closed."""
        with self._lock:
            if self._stopping or self._buffered + self._in_flight >= self.limits.max_rows:
                self.dropped += 1
                accepted = False
            else:
                self._buffer.append((1, row, None))
                self._buffered += 1
                accepted = True
                if self._buffered >= self.batch_size:
                    self._wake.notify()
        if not accepted:
            self._report_drop(1)
        return accepted

    def submit_group(self, group: RowGroup, first: int | None = None) -> int:
        """Queue a group of rows as one item; returns how many were kept (the rest, beyond
        the buffer's room, are dropped and counted). Never blocks on the store. `first`
        numbers the group's rows in the writer's `session` (first, first + 1, ...), in the
        order submitted: a row numbered so is inserted at most once, even when sent again."""
        if first is not None and self.session is None:
            raise ValueError("numbered rows need a writer session")
        count = len(group)
        with self._lock:
            room = 0 if self._stopping else self.limits.max_rows - self._buffered - self._in_flight
            kept = max(0, min(count, room))
            if kept:
                item = group if kept == count else _Head(group, kept)
                self._buffer.append((kept, item, first))
                self._buffered += kept
                if self._buffered >= self.batch_size:
                    self._wake.notify()
            self.dropped += count - kept
        self._report_drop(count - kept)
        return kept

    @property
    def held(self) -> int:
        """Rows in memory: buffered plus the batch being written."""
        with self._lock:
            return self._buffered + self._in_flight

    # ---- shutdown -------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row submitted so far is written or dropped; False on timeout."""
        end = time.monotonic() + timeout
        with self._lock:
            self._wake.notify()
            while self._buffer or self._in_flight:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Write everything buffered (retrying a failing store until `timeout`), then stop.
        Rows still unwritten at the deadline are dropped and counted. True if none were."""
        dropped_before = self.dropped
        with self._lock:
            self._stopping = True
            self._deadline = time.monotonic() + timeout
            self._wake.notify()
        self._kick.set()
        self._thread.join(timeout + 1.0)
        return self.dropped == dropped_before and not self._thread.is_alive()

    # ---- the writer thread ----------------------------------------------------------------

    def _report_drop(self, count: int) -> None:
        if count and self._on_drop is not None:
            try:
                self._on_drop(count)
            except Exception:  # a metrics callback must never break logging
                log.exception("prediction log: on_drop callback failed")

    def _take_batch(self) -> list[tuple[Item, int | None]]:
        """Items of about `batch_size` rows (a group is never split here: a large one is
        written in several inserts by `_run`). Waits for a full batch up to `flush_seconds`,
        unless the spool has rows to replay meanwhile."""
        replaying = self.spool is not None and self.spool.pending and not self._backing_off()
        with self._lock:
            if not self._stopping and not replaying and self._buffered < self.batch_size:
                self._wake.wait(self.limits.flush_seconds)
            batch: list[tuple[Item, int | None]] = []
            count = 0
            while self._buffer and count < self.batch_size:
                rows, item, first = self._buffer.popleft()
                batch.append((item, first))
                count += rows
            self._buffered -= count
            self._in_flight = count
            return batch

    def _expand(self, items: list[tuple[Item, int | None]]) -> tuple[list[Row], list[Mark], int]:
        """The rows of the items taken, their marks, and how many rows were lost to a
        failing group."""
        rows: list[Row] = []
        marks: list[Mark] = []
        lost = 0
        for item, first in items:
            if isinstance(item, tuple):
                rows.append(item)
                marks.append(None)
                continue
            try:
                expanded = item.expand()
            except Exception as exc:  # a bug in a group: its rows are dropped, not retried
                lost += len(item)
                self.last_error = f"rejected group: {exc!r}"
                continue
            rows.extend(expanded)
            if first is None or self.session is None:
                marks.extend([None] * len(expanded))
            else:
                marks.extend((self.session, first + i) for i in range(len(expanded)))
        return rows, marks, lost

    def _finish(self, outcome: _Outcome) -> None:
        with self._lock:
            self._in_flight = 0
            self.written += outcome.written
            self.dropped += outcome.dropped
            self.spooled += outcome.spooled
            self._idle.notify_all()
        self._report_drop(outcome.dropped)

    def _run(self) -> None:
        left = 0
        while True:
            batch = self._take_batch()
            if batch:
                rows, marks, dropped = self._expand(batch)
                outcome = _Outcome(dropped=dropped)
                for begin in range(0, len(rows), self.batch_size):
                    end = begin + self.batch_size
                    outcome += self._write(rows[begin:end], marks[begin:end])
                self._finish(outcome)
            if self.spool is not None and self.spool.pending:
                self._replay(self.spool)
            with self._lock:
                closing = self._stopping and not self._buffer
                if closing and not self._replaying_until_deadline():
                    self._idle.notify_all()
                    return
                if self._stopping and time.monotonic() >= self._deadline:
                    left = self._buffered
                    self._buffer.clear()
                    self._buffered = 0
                    self.dropped += left
                    self._idle.notify_all()
                    break
            if closing:  # the spool's rows, until the store takes them or the deadline
                time.sleep(0.05)
        self._report_drop(left)

    def _replaying_until_deadline(self) -> bool:
        """Closing: True while the spool has rows and the deadline allows another try
        (holding the lock). What the spool still holds at the deadline stays on disk, for
        the next writer to replay."""
        spool = self.spool
        if spool is None or not spool.pending:
            return False
        if time.monotonic() < self._deadline:
            return True
        log.warning(
            "prediction log: %d bytes of rows wait in the spool %s: the next start writes them",
            spool.waiting_bytes,
            spool.path,
        )
        return False

    def _sleep(self, seconds: float) -> bool:
        """Back off; False when the close deadline has passed (give up on the batch)."""
        with self._lock:
            if self._stopping:
                left = self._deadline - time.monotonic()
                if left <= 0:
                    return False
                seconds = min(seconds, left)
        self._kick.wait(seconds)  # set by close(): retry at once
        return True

    def _write(self, batch: list[Row], marks: list[Mark]) -> _Outcome:
        """Insert a batch. While the store is down: into the spool when there is one, else
        retried with back-off (the rows held meanwhile count against `max_rows`)."""
        records: list[Any] = []
        kept: list[Mark] = []
        rejected = 0
        for row, mark in zip(batch, marks, strict=True):
            try:
                records.append(self.store.to_record(row))
                kept.append(mark)
            except Exception as exc:  # a malformed row: drop it, never retry it
                rejected += 1
                self.last_error = f"rejected row: {exc!r}"
        if self.spool is not None and self.spool.pending:  # behind the rows waiting there
            return self._to_spool(self.spool, records, kept, rejected)
        backoff = self.limits.initial_backoff_seconds
        while records:
            try:
                written = self._insert(records, kept)
                self.failing = False
                return _Outcome(written=written, dropped=rejected)
            except Exception as exc:
                self.failures += 1
                self.last_error = repr(exc)
                if not _transient(exc):
                    written, bad = self._write_one_by_one(records, kept)
                    return _Outcome(written=written, dropped=rejected + bad)
                if self.failures == 1 or self.failures % 100 == 0:
                    log.warning("prediction log %s unavailable (%s): retrying", self.store, exc)
                if self.spool is not None:
                    return self._to_spool(self.spool, records, kept, rejected)
                self.failing = True
                if not self._sleep(backoff):
                    return _Outcome(dropped=rejected + len(records))
                backoff = min(backoff * 2.0, self.limits.max_backoff_seconds)
        return _Outcome(dropped=rejected)

    def _insert(self, records: list[Any], marks: Sequence[Mark]) -> int:
        """Insert the records whose rows are not in the store yet (by their marks), and
        advance their sessions in the same transaction; returns how many of `records` are
        now in the store (those found there included)."""
        if not self._tables_ready:
            self.store.ensure_tables()
            self._tables_ready = True
        fresh: list[Any] = []
        ends: dict[str, int] = {}
        for record, mark in zip(records, marks, strict=True):
            if mark is not None:
                session, number = mark
                if session not in self._rows_in:
                    self._rows_in[session] = self.store.rows_in(session)
                if number < self._rows_in[session]:
                    continue
                ends[session] = max(ends.get(session, 0), number + 1)
            fresh.append(record)
        advance = [Progress(session, end) for session, end in ends.items()]
        self.store.insert_records(fresh, advance)
        self._rows_in.update(ends)
        self.skipped += len(records) - len(fresh)
        return len(records)

    def _to_spool(
        self, spool: Spool, records: list[Any], marks: list[Mark], rejected: int
    ) -> _Outcome:
        """Keep a batch the store cannot take in the spool; dropped, counted and said (an
        ERROR naming the spool) when the spool is full or its disk fails."""
        try:
            spool.append([self.store.values_of(record) for record in records], marks)
        except (SpoolFullError, OSError) as exc:
            self.failing = True  # decisions are no longer being kept
            self.last_error = f"{len(records)} rows lost: {exc}"
            self._spool_refusals += 1
            if self._spool_refusals % 100 == 1:  # the first, then every hundredth
                log.error("prediction log: %s", self.last_error)
            return _Outcome(dropped=rejected + len(records))
        self._spool_refusals = 0
        self.failing = False  # kept on disk, for the store
        return _Outcome(dropped=rejected, spooled=len(records))

    def _backing_off(self) -> bool:
        return time.monotonic() < self._replay_at

    def _replay(self, spool: Spool) -> None:
        """Insert the spool's waiting batches, oldest first, while the store takes them
        (for at most `flush_seconds`: new rows go behind them meanwhile); back off when it
        does not. Rows the store rejects for their content are dropped one by one, as in
        `_write`: a bad line never blocks the spool."""
        if self._backing_off():
            return
        end = time.monotonic() + self.limits.flush_seconds
        while spool.pending and time.monotonic() < end:
            rows, marks = spool.head(REPLAY_ROWS)
            records = [self.store.record_of(row) for row in rows]
            dropped = 0
            try:
                written = self._insert(records, marks)
            except Exception as exc:
                self.failures += 1
                self.last_error = repr(exc)
                transient = _transient(exc)
                if not transient:
                    written, dropped = self._write_one_by_one(records, marks)
                # Not a row's fault when no row went in (a server still starting answers
                # with errors that do not look like a lost connection): back off, keep all.
                if transient or written == 0:
                    self._replay_at = time.monotonic() + self._replay_backoff
                    self._replay_backoff = min(
                        self._replay_backoff * 2.0, self.limits.max_backoff_seconds
                    )
                    return
            spool.done()
            with self._lock:
                self.written += written
                self.replayed += written + dropped  # out of the spool either way
                self.dropped += dropped
            self._report_drop(dropped)
        self._replay_backoff = self.limits.initial_backoff_seconds

    def _write_one_by_one(self, records: list[Any], marks: Sequence[Mark]) -> tuple[int, int]:
        written = dropped = 0
        for record, mark in zip(records, marks, strict=True):
            try:
                written += self._insert([record], [mark])
            except Exception as exc:
                dropped += 1
                self.last_error = f"rejected row: {exc!r}"
        return written, dropped

"""A bounded spool on local disk for the log rows the store cannot take now.

While the store is down (or slow to come back) the writer appends each batch it could not
insert to the spool, as one JSON line (`{"t": appended at, "rows": [...], "w": the writer
session, "n": [each row's number in it, or null]}`), fsynced: the
rows are then safe from the writer's death and the service's, and the writer's memory is
free for the next batch. Once the spool holds anything, every new batch goes behind it, so
the log keeps the order rows came in; the writer replays the spool's lines into the store,
oldest first, as soon as the store takes them, and empties the spool when it has caught up.

The replayed position is kept in a small file beside the spool (`.offset`, fsynced after each
line), so that a writer that dies while replaying starts where the last one stopped: a line
replayed but not yet marked is replayed again, never lost, and its numbered rows are not
inserted twice (the store knows which rows of a session it holds: `store.Progress`).

Bounded: `max_bytes` on disk and `max_age_seconds` for the oldest line waiting. Beyond
either, `append` refuses (`SpoolFullError`) and the writer drops the batch and counts it:
the alert for lost decisions is then critical. A disk that fails (full, read-only) raises
OSError, which the writer reports naming the path.

The rows are stored as the store would insert them: with pseudonymisation on, the customer's
key, never the id. Standard library and orjson only (the writer process imports it).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from bankrisk.prediction_log.store import COLUMNS, Row

# A row's number in its writer's session (session, number), or None for a row not numbered.
Mark = tuple[str, int] | None

_TIME = COLUMNS.index("time")
_OFFSET_DIGITS = 20


class SpoolFullError(Exception):
    """The spool holds its limit (bytes, or minutes since its oldest line): the batch would
    not fit."""


@dataclass(frozen=True)
class SpoolLimits:
    """Where the spool lives and how much it may hold."""

    path: str
    max_bytes: int
    max_age_seconds: float


class Spool:
    """An append-only file of batches waiting for the store, and the replayed position."""

    def __init__(self, limits: SpoolLimits) -> None:
        self.limits = limits
        self.path = Path(limits.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._offset_path = self.path.with_name(self.path.name + ".offset")
        # Unbuffered: a write that fails leaves nothing behind in a buffer to fail again.
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        # The replayed position, overwritten in place (no new block: it works on a full disk).
        self._offset_fd = os.open(self._offset_path, os.O_RDWR | os.O_CREAT, 0o600)
        self._offset = self._read_offset()
        self._write_offset()
        self._oldest: float | None = None  # when the first waiting line was appended
        # (bytes, rows, marks) `head` returned
        self._head: tuple[int, list[Row], list[Mark]] | None = None
        if self.pending:
            self._oldest = self._time_at(self._offset)

    def _read_offset(self) -> int:
        try:
            offset = int(os.pread(self._offset_fd, _OFFSET_DIGITS, 0) or 0)
        except ValueError:
            return 0
        return min(max(offset, 0), self._size)

    def _write_offset(self) -> None:
        os.pwrite(self._offset_fd, b"%0*d" % (_OFFSET_DIGITS, self._offset), 0)
        os.fsync(self._offset_fd)

    @property
    def pending(self) -> bool:
        """Rows wait in the spool."""
        return self._offset < self._size

    @property
    def waiting_bytes(self) -> int:
        """Bytes of the lines still waiting."""
        return self._size - self._offset

    def age(self, now: float | None = None) -> float:
        """Seconds since the oldest waiting line was appended (0 when empty)."""
        if self._oldest is None:
            return 0.0
        return max(0.0, (now or time.time()) - self._oldest)

    def append(self, rows: Sequence[Row], marks: Sequence[Mark] | None = None) -> None:
        """Append a batch (with its rows' marks) and fsync; SpoolFullError beyond the
        limits, OSError when the disk fails (nothing of the batch is then counted as kept)."""
        now = time.time()
        sessions = {mark[0] for mark in marks or () if mark is not None}
        if len(sessions) > 1:
            raise ValueError(f"a spooled batch of one writer session, not {len(sessions)}")
        numbers = [None if mark is None else mark[1] for mark in marks or [None] * len(rows)]
        batch = {"t": now, "rows": list(rows), "w": next(iter(sessions), None), "n": numbers}
        line = orjson.dumps(batch) + b"\n"
        if self._size - self._offset + len(line) > self.limits.max_bytes:
            raise SpoolFullError(
                f"spool {self.path} holds {self.waiting_bytes:,} bytes: "
                f"{len(line):,} more would pass its limit of {self.limits.max_bytes:,}"
            )
        if self.pending and self.age(now) > self.limits.max_age_seconds:
            raise SpoolFullError(
                f"spool {self.path}: its oldest rows wait for {self.age(now) / 60:.0f} "
                f"minutes, past its limit of {self.limits.max_age_seconds / 60:.0f}"
            )
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)  # no torn line behind the good ones
            raise OSError(exc.errno, f"cannot write the spool {self.path}: {exc.strerror}") from exc
        if not self.pending:
            self._oldest = now
        self._size += len(line)

    def head(self, max_rows: int = 1) -> tuple[list[Row], list[Mark]]:
        """The oldest waiting batches, one or more, up to about `max_rows` rows (the spool
        must be `pending`), and their rows' marks: several lines per insert replay faster
        than one at a time."""
        if self._head is None or self._head_rows < max_rows:
            rows: list[Row] = []
            marks: list[Mark] = []
            offset = self._offset
            while offset < self._size and (not rows or len(rows) < max_rows):
                line = self._line_at(offset)
                batch = orjson.loads(line)
                rows.extend(_row(values) for values in batch["rows"])
                session = batch.get("w")
                numbers = batch.get("n") or [None] * len(batch["rows"])
                marks.extend(None if n is None else (session, n) for n in numbers)
                offset += len(line)
            self._head = (offset - self._offset, rows, marks)
        return self._head[1], self._head[2]

    @property
    def _head_rows(self) -> int:
        return 0 if self._head is None else len(self._head[1])

    def _time_at(self, offset: int) -> float:
        data: dict[str, Any] = orjson.loads(self._line_at(offset))
        return float(data["t"])

    def _line_at(self, offset: int) -> bytes:
        parts: list[bytes] = []
        while True:
            chunk = os.pread(self._fd, 1 << 16, offset)
            end = chunk.find(b"\n")
            if end >= 0 or not chunk:
                parts.append(chunk[: end + 1] if end >= 0 else chunk)
                return b"".join(parts)
            parts.append(chunk)
            offset += len(chunk)

    def done(self) -> None:
        """The batches `head` returned (or the oldest one) are in the store: move past them;
        empty the spool once all are."""
        if self._head is None:
            self.head()
        assert self._head is not None
        self._offset += self._head[0]
        self._head = None
        if not self.pending:
            os.ftruncate(self._fd, 0)
            self._size = self._offset = 0
            self._oldest = None
        else:
            self._oldest = self._time_at(self._offset)
        self._write_offset()

    def close(self) -> None:
        os.close(self._fd)
        os.close(self._offset_fd)


def _row(values: list[Any]) -> Row:
    """A row read back: its time a datetime again (JSON has only the text)."""
    values[_TIME] = datetime.fromisoformat(values[_TIME])
    return tuple(values)

"""The prediction log written by a child process: the API process only serialises rows.

A background writer *thread* in the API process shares its GIL with the event loop, and
handing the GIL back and forth costs the request path more than the writing itself
(docs/performance.md).
`ProcessLogWriter` keeps the same guarantees with the work in another process:

- `submit_group(group)` (request path, any thread) serialises the group (`group.parts()`:
  orjson bytes) and appends it to a small pending list; every `SEND_ROWS` rows the list goes
  to the child in one `os.write` on a non-blocking pipe. A batch request's slice is serialised
  there too, within the slice's own time; only groups larger than `INLINE_ROWS` are
  serialised by the link thread, slice by slice, so that the event loop is never held long.
- The child (`python -m bankrisk.prediction_log.process_writer`, started with `subprocess`: a fresh
  interpreter, no fork of a threaded process) runs the thread writer, `PredictionLogWriter`,
  on its own store: batching, retry with backoff while the store is down, rejected rows
  dropped one by one. It reports its counts (written, dropped, failures, last error) as
  JSON lines on a second pipe.
- One link thread in the API process reads those reports (a few a second), sends what is
  pending at least every `flush_seconds`, and serialises the big groups. It is the only
  other Python thread, and it wakes rarely.
- Memory stays bounded: a row counts as held from `submit_group` until the child reports it
  written or dropped, and nothing is accepted beyond `max_rows` held rows: the rest is
  dropped and counted at once (`on_drop`), in the API process. The child's buffer holds at
  most what the parent counts as held, so it never drops for room.
- `close(timeout)` sends what is pending and a close frame; the child closes its writer
  (retrying a failing store until the deadline), reports its final counts and exits. Rows
  never confirmed (a child killed at the deadline, or down at shutdown) count as dropped.
- A child that dies (the OOM killer, a bug) is replaced after a back-off (`RESTART_BACKOFF_S`,
  doubled after each death, reset once a child writes), and the next child is sent every
  data frame not yet confirmed. The child writes rows in the order they were framed and
  reports counts, so the confirmed rows are a prefix: a `SKIP` frame tells the next child
  how many rows of the first frame sent again were written already. Rows written in the
  last moments before a death but not yet reported are not written twice: every row is
  numbered in the writer's session (a random id per `ProcessLogWriter`), and the store
  records, in the transaction that inserts them, which numbers of the session it holds
  (`store.Progress`), so the next child skips those. Meanwhile the service keeps answering
  and rows are held (up to `max_rows`); `restarts` counts the replacements and `recording`
  says why decisions are not being recorded, for a service that refuses to decide
  unrecorded.

Frames on the data pipe: `HEADER` (payload bytes, kind, rows) then the payload. Kinds:
`S` setup (JSON: the `WriterLimits`, store URL and salt: never on a command line; the session and
the number of the first row the child is sent), `D` data
(`ScoredRows` parts, `rows` customers: a `DecodedRows` in the child), `K` skip (JSON: rows of
the next data to leave out), `F` flush and `C` close (payload: the timeout in seconds, JSON).

The child imports what it runs (`open_store`, `DecodedRows`, `PredictionLogWriter`) and
nothing else of bankrisk: the standard library, orjson and SQLAlchemy (see
tests/serving/test_light_imports.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import orjson

from bankrisk.prediction_log.rows import DecodedRows
from bankrisk.prediction_log.spool import Spool, SpoolLimits
from bankrisk.prediction_log.store import PredictionStore, open_store
from bankrisk.prediction_log.thread_writer import DEFAULT_LIMITS, PredictionLogWriter, WriterLimits

log = logging.getLogger(__name__)

HEADER = struct.Struct("<IcI")  # payload bytes, kind, rows
SETUP, DATA, SKIP, FLUSH, CLOSE = b"S", b"D", b"K", b"F", b"C"
# Rows serialised before one write to the pipe: one syscall per this many requests.
SEND_ROWS = 64
# Larger groups are serialised by the link thread, slice by slice. A thread that holds the GIL
# delays the event loop by up to the switch interval, so the service's batch slices (250
# records, serving/routes/predict.py) are serialised inline, as part of their slice.
INLINE_ROWS = 256
# The data pipe's capacity (Linux's default is 64 KiB; 1 MiB is the unprivileged maximum).
PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031
# The child reads at most this much at once (larger reads cost a fresh mapping each).
READ_BYTES = 1 << 16
# The child reads the pipe this often, and reports changed counts (at once after a flush or
# a close). The pipe holds about a thousand customers' rows.
POLL_S = 0.02
# The child's scheduling priority below the API process's: where the two compete for a core,
# answers come first; the pipe and the buffer absorb the child's delay (bounded: past
# `max_rows` held rows, rows are dropped and counted).
NICENESS = 5
# Seconds the child keeps writing when the API process went away without closing it.
ORPHAN_FLUSH_S = 5.0
# Seconds past the close deadline that the parent waits for the child's last report.
CLOSE_GRACE_S = 2.0
# A child that died is replaced after the first delay, doubled after each death up to the
# second: a child that cannot start (say, a store URL it cannot use) is not a busy loop.
RESTART_BACKOFF_S = (0.5, 30.0)


class EncodedGroup(Protocol):
    """Rows of one request as the process writer takes them."""

    def __len__(self) -> int: ...

    def parts(self) -> Sequence[tuple[int, bytes]]:
        """(rows, bytes) per slice: JSON arrays that `DecodedRows` reads in the child."""
        ...

    def head(self, count: int) -> EncodedGroup:
        """The first `count` rows."""
        ...


def _frame(kind: bytes, rows: int, payload: bytes) -> bytes:
    return HEADER.pack(len(payload), kind, rows) + payload


@dataclass
class _Child:
    """A running writer process and the parent's ends of its two pipes."""

    process: subprocess.Popen[bytes]
    data: int  # frames to the child (non-blocking)
    reports: int  # its counts, as JSON lines
    written: int = 0  # as it last reported them: inserted (directly or from the spool)
    dropped: int = 0
    spooled: int = 0  # kept in the spool
    replayed: int = 0  # taken out of the spool: inserted (also in `written`) or dropped
    closed: bool = False  # its last report (after a close frame) came
    broken: bool = False  # a write to it failed: it has gone

    @classmethod
    def start(cls) -> _Child:
        data_read, data_write = os.pipe()
        report_read, report_write = os.pipe()
        with contextlib.suppress(OSError):  # a smaller pipe: more, smaller writes
            fcntl.fcntl(data_write, _F_SETPIPE_SZ, PIPE_BYTES)
        os.set_blocking(data_write, False)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(data_read), str(report_write)],
                pass_fds=(data_read, report_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stdout is the service's JSON log
            )
        finally:
            os.close(data_read)
            os.close(report_write)
        return cls(process, data_write, report_read)

    @property
    def confirmed(self) -> int:
        """Rows of the data sent to it that it has inserted, spooled or dropped."""
        return self.written - self.replayed + self.spooled + self.dropped

    def close_pipes(self) -> None:
        for fd in (self.data, self.reports):
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass(frozen=True)
class _Sent:
    """A data frame, kept until the child reports its rows written or dropped: sent again
    to the next child if this one dies first. Its rows are numbers `first` to `end - 1` in
    the order rows were framed."""

    first: int
    end: int
    frame: bytes


class ProcessLogWriter:
    """Sends submitted groups of rows to a child process that writes them to `store`'s log.

    `store` is the API process's handle on the log, never connected here (the child opens its
    own with `store.url` and `store.salt`); the groups submitted are `EncodedGroup`s (the
    service's `ScoredRows`). Same counters as `PredictionLogWriter`: `written`, `dropped`
    (with `on_drop(n)` for each count, the service's Prometheus counter), `held`, `failures`,
    `last_error`; and `restarts`, the children started after the first.
    """

    def __init__(
        self,
        store: PredictionStore,
        *,
        limits: WriterLimits = DEFAULT_LIMITS,
        on_drop: Callable[[int], None] | None = None,
        spool: SpoolLimits | None = None,
    ) -> None:
        self.store = store
        self.limits = limits
        self.spool = spool
        self.session = uuid.uuid4().hex  # numbers the rows sent (`_framed`) for the store
        self.spool_bytes = 0  # waiting in the spool, as the child last reported
        self.spool_age_seconds = 0.0
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self._serialising = threading.Lock()  # one `_serialise_large` at a time
        self._changed = threading.Condition(self._lock)  # a report came, or a child went
        self._pending: list[bytes] = []  # serialised parts not yet framed
        self._pending_rows = 0
        self._large: deque[EncodedGroup] = deque()  # for the link thread to serialise
        self._out: deque[memoryview] = deque()  # framed bytes the pipe did not take yet
        self._sent: deque[_Sent] = deque()  # data frames not yet confirmed, oldest first
        self._framed = 0  # rows framed since the start (numbers the rows of `_sent`)
        self._last_send = time.monotonic()
        self._accepted = 0  # rows taken in since the start
        self._refused = 0  # rows dropped here (buffer full, closed)
        self._unreported = 0  # drops not yet passed to on_drop
        self._lost = 0  # rows held when the writer stopped for good
        self._done_written = self._done_dropped = 0  # reported by children that have gone
        self._done_confirmed = 0
        self.failures = 0
        self.failing = False  # the store failed the child's last attempt
        self.last_error: str | None = None
        self.restarts = 0
        self._failures_before = 0  # counted by children that have gone
        self._backoff = RESTART_BACKOFF_S[0]
        self._restart_at = 0.0
        self._stopping = False
        self._finished = False  # no child will run again
        self._close_result: bool | None = None
        self._wake_read, self._wake = os.pipe()
        os.set_blocking(self._wake, False)
        self._child: _Child | None = None
        self._start_child()
        self._link = threading.Thread(target=self._run, name="prediction-log-link", daemon=True)
        self._link.start()

    # ---- counters -------------------------------------------------------------------------

    @property
    def written(self) -> int:
        return self._done_written + (self._child.written if self._child else 0)

    @property
    def dropped(self) -> int:
        child = self._child.dropped if self._child else 0
        return self._refused + self._done_dropped + child + self._lost

    @property
    def held(self) -> int:
        """Rows submitted and not yet reported written or dropped."""
        with self._lock:
            return self._held()

    def _confirmed(self) -> int:
        """Rows the children have reported written, spooled or dropped (in the order
        framed)."""
        return self._done_confirmed + (self._child.confirmed if self._child else 0)

    def _held(self) -> int:
        return self._accepted - self._confirmed() - self._lost

    @property
    def recording(self) -> str | None:
        """None while decisions are being recorded; else why not (the writer process is
        down, or the store failed its last attempt): what a required log refuses on."""
        with self._lock:
            if self._child is None:
                return f"the log's writer process is restarting ({self.last_error})"
            if self.failing:
                return f"the prediction log {self.store} is unavailable ({self.last_error})"
            if self._held() >= self.limits.max_rows:
                return f"the log's writer holds {self.limits.max_rows} rows: its limit"
            return None

    # ---- the hot path ---------------------------------------------------------------------

    def submit_group(self, group: EncodedGroup) -> int:
        """Queue a group of rows; returns how many were kept (the rest, beyond `max_rows`
        held, are dropped and counted). Never blocks on the store or the child."""
        count = len(group)
        parts = group.parts() if count <= INLINE_ROWS else None
        with self._lock:
            room = 0 if self._stopping else self.limits.max_rows - self._held()
            kept = max(0, min(count, room))
            self._refused += count - kept
            self._unreported += count - kept
            if kept:
                self._accepted += kept
                if kept < count:
                    group, parts = group.head(kept), None
                if parts is None:
                    self._large.append(group)
                    self._poke()
                else:
                    for _, part in parts:
                        self._pending.append(part)
                    self._pending_rows += kept
                    if self._pending_rows >= SEND_ROWS:
                        self._send_pending()
        if self._unreported:
            self._report_drops()
        return kept

    def _poke(self) -> None:
        with contextlib.suppress(OSError):  # full: the link thread is awake already
            os.write(self._wake, b"!")

    def _send_pending(self) -> None:
        """Frame what is pending and write what the pipe takes (holding the lock)."""
        if self._pending:
            payload = b"[" + b",".join(self._pending) + b"]"
            frame = _frame(DATA, self._pending_rows, payload)
            self._sent.append(_Sent(self._framed, self._framed + self._pending_rows, frame))
            self._framed += self._pending_rows
            self._out.append(memoryview(frame))
            self._pending.clear()
            self._pending_rows = 0
        self._last_send = time.monotonic()
        self._write_out()

    def _write_out(self) -> None:
        """Write queued frames until the pipe is full (holding the lock). With no child
        running they wait: the next child is sent what was not confirmed."""
        child = self._child
        while self._out and child is not None and not child.broken:
            data = self._out[0]
            try:
                written = os.write(child.data, data)
            except BlockingIOError:
                return
            except OSError:  # the child has gone: the link thread sees its pipe close
                child.broken = True
                return
            if written < len(data):
                self._out[0] = data[written:]
                return
            self._out.popleft()

    # ---- children -------------------------------------------------------------------------

    def _start_child(self) -> None:
        """Start a writer process and queue its setup, then every data frame not yet
        confirmed, skipping the rows of the first that were (holding the lock, or before
        the link thread starts)."""
        setup = {
            "url": self.store.url,
            "salt": self.store.salt,
            "limits": asdict(self.limits),
            "spool": None if self.spool is None else asdict(self.spool),
            "session": self.session,
            "first": self._sent[0].first if self._sent else self._framed,
        }
        self._child = _Child.start()
        self._out.clear()
        self._out.append(memoryview(_frame(SETUP, 0, orjson.dumps(setup))))
        confirmed = self._confirmed()
        if self._sent and self._sent[0].first < confirmed:
            self._out.append(
                memoryview(_frame(SKIP, 0, orjson.dumps(confirmed - self._sent[0].first)))
            )
        self._out.extend(memoryview(sent.frame) for sent in self._sent)

    def _child_exited(self, child: _Child) -> None:
        """The child's report pipe closed: take its counts, and restart it unless closing."""
        code = child.process.wait()
        child.close_pipes()
        with self._lock:
            self._done_written += child.written
            self._done_dropped += child.dropped
            self._done_confirmed += child.confirmed
            self._failures_before = self.failures
            self._child = None
            self._release_confirmed()
            if self._stopping:
                self._stop_for_good(
                    None if child.closed else f"writer process exited with code {code}"
                )
                return
            self.last_error = f"writer process exited with code {code}"
            self._restart_at = time.monotonic() + self._backoff
            log.error(
                "prediction log: %s; %d rows held are sent again to a new writer process in %.1f s",
                self.last_error,
                self._held(),
                self._backoff,
            )
            self._backoff = min(self._backoff * 2.0, RESTART_BACKOFF_S[1])
            self._changed.notify_all()

    def _release_confirmed(self) -> None:
        """Forget the data frames whose rows are all confirmed (holding the lock)."""
        confirmed = self._confirmed()
        while self._sent and self._sent[0].end <= confirmed:
            self._sent.popleft()

    def _stop_for_good(self, reason: str | None) -> None:
        """No child runs again: what is held is lost (holding the lock)."""
        self._finished = True
        lost = self._held()
        self._lost += lost
        self._unreported += lost
        self._out.clear()
        self._pending.clear()
        self._large.clear()
        self._sent.clear()
        if reason is not None:
            self.last_error = reason
            if lost:
                log.error("prediction log: %s; %d rows lost", reason, lost)
        self._changed.notify_all()

    # ---- shutdown -------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row submitted so far is written or dropped; False on timeout."""
        end = time.monotonic() + timeout
        self._serialise_large()
        with self._lock:
            target = self._accepted
            self._pending_rows_flush(FLUSH, timeout)
        if not self._write_all(end):
            return False
        with self._lock:
            while self._confirmed() + self._lost < target:
                left = end - time.monotonic()
                if left <= 0 or self._finished:
                    return self._confirmed() + self._lost >= target
                self._changed.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Write everything submitted (the child retries a failing store until `timeout`),
        then stop the child. Rows unwritten at the deadline are dropped and counted. True
        if none were and the child ended cleanly."""
        end = time.monotonic() + timeout
        with self._lock:
            if self._close_result is not None or self._stopping:
                return bool(self._close_result)
            self._stopping = True
            dropped_before = self.dropped
            child = self._child
            if child is None:  # between two children: what is held cannot be written now
                self._stop_for_good("writer process down at shutdown")
        self._serialise_large()
        with self._lock:
            if not self._finished:
                self._pending_rows_flush(CLOSE, timeout)
        self._write_all(end)
        with self._lock:
            while not self._finished:
                left = end + CLOSE_GRACE_S - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
        if child is not None and child.process.poll() is None:
            try:
                child.process.wait(max(0.1, end + CLOSE_GRACE_S - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        self._poke()
        self._link.join(CLOSE_GRACE_S)
        if child is not None:
            child.close_pipes()
        with self._lock:
            clean = child is not None and child.closed and child.process.returncode == 0
            self._stop_for_good(None if clean else "writer process did not finish in time")
            result = clean and self.dropped == dropped_before
            self._close_result = result
        self._report_drops()
        os.close(self._wake)
        return result

    def _pending_rows_flush(self, kind: bytes, timeout: float) -> None:
        """Frame what is pending and a flush or close frame (holding the lock)."""
        if self._pending:
            self._send_pending()
        self._out.append(memoryview(_frame(kind, 0, orjson.dumps(timeout))))

    def _write_all(self, end: float) -> bool:
        """Write every queued frame, waiting for the pipe (or the next child) until `end`;
        False if it did not."""
        while True:
            with self._lock:
                self._write_out()
                if not self._out:
                    return True
                if self._finished:
                    return False
                child = self._child
            left = end - time.monotonic()
            if left <= 0:
                return False
            if child is None or child.broken:
                time.sleep(min(left, 0.05))
            else:
                select.select([], [child.data], [], min(left, 0.05))

    # ---- the link thread ------------------------------------------------------------------

    def _report_drops(self) -> None:
        """Pass the drops counted since the last call to `on_drop` (not holding the lock)."""
        with self._lock:
            count, self._unreported = self._unreported, 0
        if count and self._on_drop is not None:
            try:
                self._on_drop(count)
            except Exception:  # a metrics callback must never break logging
                log.exception("prediction log: on_drop callback failed")

    def _serialise_large(self) -> None:
        """Serialise the big groups, one slice at a time (other threads run in between).

        One caller at a time: when `flush` or `close` calls it, a group the link thread has
        taken is pending in full before they frame what is pending (else its rows could come
        after the close frame, and be lost)."""
        with self._serialising:
            while True:
                with self._lock:
                    if not self._large:
                        return
                    group = self._large.popleft()
                for rows, part in group.parts():
                    with self._lock:
                        self._pending.append(part)
                        self._pending_rows += rows
                        if self._pending_rows >= SEND_ROWS * 8:
                            self._send_pending()

    def _run(self) -> None:
        received = b""
        while True:
            with self._lock:
                if self._finished:
                    break
                child = self._child
                if child is None and not self._stopping and time.monotonic() >= self._restart_at:
                    self.restarts += 1
                    self._start_child()
                    child = self._child
                waiting = child is not None and bool(self._out) and not child.broken
            watched = [self._wake_read] + ([child.reports] if child is not None else [])
            readable, _, _ = select.select(
                watched,
                [child.data] if waiting and child is not None else [],
                [],
                self.limits.flush_seconds,
            )
            if self._wake_read in readable:
                os.read(self._wake_read, 4096)
            if child is not None and child.reports in readable:
                chunk = os.read(child.reports, 65536)
                if not chunk:
                    received = b""
                    self._child_exited(child)
                    self._report_drops()
                    continue
                *lines, received = (received + chunk).split(b"\n")
                if lines:
                    self._take_report(child, orjson.loads(lines[-1]))
            self._serialise_large()
            with self._lock:
                due = time.monotonic() - self._last_send >= self.limits.flush_seconds
                if self._pending and (due or self._stopping):
                    self._send_pending()
                else:
                    self._write_out()
        self._report_drops()
        os.close(self._wake_read)

    def _take_report(self, child: _Child, report: dict[str, Any]) -> None:
        with self._lock:
            self._unreported += report["dropped"] - child.dropped
            if report["written"] > child.written:
                self._backoff = RESTART_BACKOFF_S[0]  # this child works
            child.written = report["written"]
            child.dropped = report["dropped"]
            child.spooled = report["spooled"]
            child.replayed = report["replayed"]
            self.spool_bytes = report["spool_bytes"]
            self.spool_age_seconds = report["spool_age_seconds"]
            self.failures = self._failures_before + report["failures"]
            self.failing = report["failing"]
            if report["error"] is not None:
                self.last_error = report["error"]
            child.closed = report["closed"]
            self._release_confirmed()
            if child.closed and self._stopping:
                self._finished = True
            self._changed.notify_all()
        for severity, message in report["log"]:  # the child's warnings, in the service's log
            log.log(logging.getLevelName(severity), "prediction log writer: %s", message)
        self._report_drops()


# ---- the child ------------------------------------------------------------------------------


class _Reports:
    """The child's side of the report pipe: counts as JSON lines, when they change."""

    def __init__(self, fd: int, writer: PredictionLogWriter, said: _Said) -> None:
        self.fd = fd
        self.writer = writer
        self.last: tuple[int, ...] = ()
        self.at = 0.0
        self.said = said

    def send(self, *, force: bool = False, closed: bool = False) -> None:
        writer = self.writer
        now = time.monotonic()
        spool = writer.spool
        spool_bytes = spool.waiting_bytes if spool is not None else 0
        counts = (writer.written, writer.dropped, writer.spooled, writer.failures, spool_bytes)
        said = self.said.take()
        if not (force or closed or said) and (counts == self.last or now - self.at < POLL_S):
            return
        self.last, self.at = counts, now
        line = orjson.dumps(
            {
                "written": writer.written,
                "dropped": writer.dropped,
                "spooled": writer.spooled,
                "replayed": writer.replayed,
                "failures": writer.failures,
                "error": writer.last_error,
                "failing": writer.failing,
                "spool_bytes": spool_bytes,
                "spool_age_seconds": spool.age() if spool is not None else 0.0,
                "log": said,
                "closed": closed,
            }
        )
        with contextlib.suppress(OSError):  # the API process has gone: nobody to tell
            os.write(self.fd, line + b"\n")


class _Said(logging.Handler):
    """The child's warnings and errors, kept for the next report (the parent logs them:
    the child's own output goes nowhere an operator reads)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelname, record.getMessage()))

    def take(self) -> list[tuple[str, str]]:
        lines, self.lines = self.lines, []
        return lines


class _Frames:
    """Reads whole frames from the data pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.eof = False

    def read(self, pause: float | None) -> list[tuple[bytes, int, bytes]]:
        """The whole frames that arrived: after sleeping `pause` seconds, or once something
        arrives when None. Sleeping instead of waking up for every write of the API process
        costs far less CPU per row; the pipe holds what comes meanwhile."""
        if pause is None:
            select.select([self.fd], [], [])
        else:
            time.sleep(pause)
        while True:
            try:
                chunk = os.read(self.fd, READ_BYTES)
            except BlockingIOError:
                break
            self.eof = not chunk
            self.buffer += chunk
            if len(chunk) < READ_BYTES:
                break
        frames = []
        begin = 0
        while len(self.buffer) - begin >= HEADER.size:
            size, kind, rows = HEADER.unpack_from(self.buffer, begin)
            end = begin + HEADER.size + size
            if end > len(self.buffer):
                break
            frames.append((kind, rows, bytes(self.buffer[begin + HEADER.size : end])))
            begin = end
        del self.buffer[:begin]
        return frames


def child_main(data_fd: int, report_fd: int) -> int:
    """Write what the API process sends until it closes us (or goes away)."""
    # The API process decides when we stop (SIGINT from a terminal reaches the whole group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    os.set_blocking(data_fd, False)
    frames = _Frames(data_fd)
    received = frames.read(None)
    while not received:
        if frames.eof:
            return 1
        received = frames.read(None)
    kind, _, payload = received.pop(0)
    if kind != SETUP:
        raise ValueError(f"the first frame is {kind!r}, not the setup")
    setup = orjson.loads(payload)
    salt = setup["salt"]
    store = open_store(
        setup["url"], pseudonymise=salt is not None, salt=salt, create=False, wal=True
    )
    if store is None:
        raise ValueError(f"the prediction log is off: {setup['url']!r}")
    said = _Said()  # reported to the parent instead of printed
    logging.getLogger("bankrisk").addHandler(said)
    logging.getLogger("bankrisk").propagate = False
    writer = PredictionLogWriter(
        store,
        WriterLimits(**setup["limits"]),
        spool=_open_spool(setup["spool"]),
        session=setup["session"],
    )
    reports = _Reports(report_fd, writer, said)
    skip = 0  # rows a previous child wrote, at the head of the data sent again
    number = setup["first"]  # of the next row sent, in the session
    try:
        while True:
            for kind, rows, payload in received:
                if kind == DATA:
                    skipped = min(skip, rows)
                    skip -= skipped
                    if skipped < rows:
                        group = DecodedRows(payload, rows, skipped)
                        writer.submit_group(group, first=number + skipped)
                    number += rows
                elif kind == SKIP:
                    skip = orjson.loads(payload)
                elif kind == FLUSH:
                    writer.flush(orjson.loads(payload))
                    reports.send(force=True)
                elif kind == CLOSE:
                    writer.close(orjson.loads(payload))
                    reports.send(closed=True)
                    return 0
            if frames.eof:
                writer.close(ORPHAN_FLUSH_S)
                reports.send(closed=True)
                return 0
            reports.send()
            received = frames.read(POLL_S)
    finally:
        store.close()
        if writer.spool is not None:
            writer.spool.close()


def _open_spool(limits: dict[str, Any] | None) -> Spool | None:
    """The spool the parent asked for; None (and an ERROR) when its folder cannot be used:
    the writer then holds rows in memory only, as without a spool."""
    if limits is None:
        return None
    try:
        return Spool(SpoolLimits(**limits))
    except OSError as exc:
        log.error("cannot open the spool %s (%s): rows wait in memory only", limits["path"], exc)
        return None


if __name__ == "__main__":
    sys.exit(child_main(int(sys.argv[1]), int(sys.argv[2])))

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
  never confirmed (a child killed at the deadline, or one that died) count as dropped.
- A child that dies is not restarted: every row held or submitted afterwards is dropped and
  counted, and `last_error` says why; the service keeps answering.

Frames on the data pipe: `HEADER` (payload bytes, kind, rows) then the payload. Kinds:
`S` setup (JSON: the `WriterLimits`, store URL and salt: never on a command line), `D` data
(`ScoredRows` parts, `rows` customers: a `DecodedRows` in the child), `F` flush and `C` close
(payload: the timeout in seconds, JSON).

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
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, Protocol

import orjson

from bankrisk.prediction_log.rows import DecodedRows
from bankrisk.prediction_log.store import PredictionStore, open_store
from bankrisk.prediction_log.thread_writer import DEFAULT_LIMITS, PredictionLogWriter, WriterLimits

log = logging.getLogger(__name__)

HEADER = struct.Struct("<IcI")  # payload bytes, kind, rows
SETUP, DATA, FLUSH, CLOSE = b"S", b"D", b"F", b"C"
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


class ProcessLogWriter:
    """Sends submitted groups of rows to a child process that writes them to `store`'s log.

    `store` is the API process's handle on the log, never connected here (the child opens its
    own with `store.url` and `store.salt`); the groups submitted are `EncodedGroup`s (the
    service's `ScoredRows`). Same counters as `PredictionLogWriter`: `written`, `dropped`
    (with `on_drop(n)` for each count, the service's Prometheus counter), `held`, `failures`,
    `last_error`.
    """

    def __init__(
        self,
        store: PredictionStore,
        *,
        limits: WriterLimits = DEFAULT_LIMITS,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.limits = limits
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self._serialising = threading.Lock()  # one `_serialise_large` at a time
        self._changed = threading.Condition(self._lock)  # a report came, or the child went
        self._pending: list[bytes] = []  # serialised parts not yet framed
        self._pending_rows = 0
        self._large: deque[EncodedGroup] = deque()  # for the link thread to serialise
        self._out: deque[memoryview] = deque()  # framed bytes the pipe did not take yet
        self._last_send = time.monotonic()
        self._accepted = 0  # rows taken in since the start
        self._refused = 0  # rows dropped here (buffer full, closed, child gone)
        self._unreported = 0  # drops not yet passed to on_drop
        self._lost = 0  # rows held when the child went away
        self._child_written = self._child_dropped = 0
        self.failures = 0
        self.last_error: str | None = None
        self._stopping = False
        self._child_closed = False  # the child's last report came
        self._gone = False  # the child has exited (or its pipes broke)
        self._close_result: bool | None = None

        data_read, self._data = os.pipe()
        self._reports, report_write = os.pipe()
        self._wake_read, self._wake = os.pipe()
        with contextlib.suppress(OSError):  # a smaller pipe: more, smaller writes
            fcntl.fcntl(self._data, _F_SETPIPE_SZ, PIPE_BYTES)
        os.set_blocking(self._data, False)
        os.set_blocking(self._wake, False)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(data_read), str(report_write)],
                pass_fds=(data_read, report_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stdout is the service's JSON log
            )
        finally:
            os.close(data_read)
            os.close(report_write)
        setup = {
            "url": store.url,
            "salt": store.salt,
            "limits": asdict(limits),
        }
        self._out.append(memoryview(_frame(SETUP, 0, orjson.dumps(setup))))
        self._link = threading.Thread(target=self._run, name="prediction-log-link", daemon=True)
        self._link.start()

    # ---- counters -------------------------------------------------------------------------

    @property
    def written(self) -> int:
        return self._child_written

    @property
    def dropped(self) -> int:
        return self._refused + self._child_dropped + self._lost

    @property
    def held(self) -> int:
        """Rows submitted and not yet reported written or dropped."""
        with self._lock:
            return self._held()

    def _held(self) -> int:
        return self._accepted - self._child_written - self._child_dropped - self._lost

    # ---- the hot path ---------------------------------------------------------------------

    def submit_group(self, group: EncodedGroup) -> int:
        """Queue a group of rows; returns how many were kept (the rest, beyond `max_rows`
        held, are dropped and counted). Never blocks on the store or the child."""
        count = len(group)
        parts = group.parts() if count <= INLINE_ROWS else None
        with self._lock:
            room = 0 if self._stopping or self._gone else self.limits.max_rows - self._held()
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
            self._out.append(memoryview(_frame(DATA, self._pending_rows, payload)))
            self._pending.clear()
            self._pending_rows = 0
        self._last_send = time.monotonic()
        self._write_out()

    def _write_out(self) -> None:
        """Write queued frames until the pipe is full (holding the lock)."""
        while self._out and not self._gone:
            data = self._out[0]
            try:
                written = os.write(self._data, data)
            except BlockingIOError:
                return
            except OSError as exc:  # the child has gone
                self._child_went(f"writer process unreachable: {exc}")
                return
            if written < len(data):
                self._out[0] = data[written:]
                return
            self._out.popleft()

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
            while self._child_written + self._child_dropped + self._lost < target:
                left = end - time.monotonic()
                if left <= 0 or self._gone:
                    return self._child_written + self._child_dropped + self._lost >= target
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
        self._serialise_large()
        with self._lock:
            self._pending_rows_flush(CLOSE, timeout)
        self._write_all(end)
        with self._lock:
            while not (self._child_closed or self._gone):
                left = end + CLOSE_GRACE_S - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
        clean = self._child_closed
        try:
            self._process.wait(max(0.1, end + CLOSE_GRACE_S - time.monotonic()))
        except subprocess.TimeoutExpired:
            clean = False
            self._process.kill()
            self._process.wait()
        self._poke()
        self._link.join(CLOSE_GRACE_S)
        with self._lock:
            self._child_went(None if clean else "writer process did not finish in time")
            result = clean and self.dropped == dropped_before and self._process.returncode == 0
            self._close_result = result
        self._report_drops()
        for fd in (self._data, self._wake):
            os.close(fd)
        return result

    def _pending_rows_flush(self, kind: bytes, timeout: float) -> None:
        """Frame what is pending and a flush or close frame (holding the lock)."""
        if self._pending:
            self._send_pending()
        self._out.append(memoryview(_frame(kind, 0, orjson.dumps(timeout))))

    def _write_all(self, end: float) -> bool:
        """Write every queued frame, waiting for the pipe until `end`; False if it did not."""
        while True:
            with self._lock:
                self._write_out()
                if not self._out or self._gone:
                    return not self._out
            left = end - time.monotonic()
            if left <= 0:
                return False
            select.select([], [self._data], [], min(left, 0.05))

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
        while not self._gone:
            with self._lock:
                waiting = bool(self._out)
            readable, _, _ = select.select(
                [self._reports, self._wake_read],
                [self._data] if waiting else [],
                [],
                self.limits.flush_seconds,
            )
            if self._wake_read in readable:
                os.read(self._wake_read, 4096)
            if self._reports in readable:
                chunk = os.read(self._reports, 65536)
                if not chunk:
                    break
                *lines, received = (received + chunk).split(b"\n")
                if lines:
                    self._take_report(orjson.loads(lines[-1]))
            self._serialise_large()
            with self._lock:
                due = time.monotonic() - self._last_send >= self.limits.flush_seconds
                if self._pending and (due or self._stopping):
                    self._send_pending()
                else:
                    self._write_out()
        code = self._process.wait()
        with self._lock:
            if not self._child_closed:
                self._child_went(f"writer process exited with code {code}")
        self._report_drops()
        os.close(self._reports)
        os.close(self._wake_read)

    def _take_report(self, report: dict[str, Any]) -> None:
        with self._lock:
            self._unreported += report["dropped"] - self._child_dropped
            self._child_written = report["written"]
            self._child_dropped = report["dropped"]
            self.failures = report["failures"]
            if report["error"] is not None:
                self.last_error = report["error"]
            self._child_closed = report["closed"]
            self._changed.notify_all()
        self._report_drops()

    def _child_went(self, reason: str | None) -> None:
        """The child is gone: what it held is lost (holding the lock)."""
        if self._gone:
            return
        self._gone = True
        lost = self._held()
        self._lost += lost
        self._unreported += lost
        self._out.clear()
        self._pending.clear()
        self._large.clear()
        if reason is not None and not self._stopping:
            self.last_error = reason
            log.warning("prediction log: %s; %d rows lost, further rows are dropped", reason, lost)
        self._changed.notify_all()


# ---- the child ------------------------------------------------------------------------------


class _Reports:
    """The child's side of the report pipe: counts as JSON lines, when they change."""

    def __init__(self, fd: int, writer: PredictionLogWriter) -> None:
        self.fd = fd
        self.writer = writer
        self.last: tuple[int, int, int] = (0, 0, 0)
        self.at = 0.0

    def send(self, *, force: bool = False, closed: bool = False) -> None:
        writer = self.writer
        now = time.monotonic()
        counts = (writer.written, writer.dropped, writer.failures)
        if not (force or closed) and (counts == self.last or now - self.at < POLL_S):
            return
        self.last, self.at = counts, now
        line = orjson.dumps(
            {
                "written": counts[0],
                "dropped": counts[1],
                "failures": counts[2],
                "error": writer.last_error,
                "closed": closed,
            }
        )
        with contextlib.suppress(OSError):  # the API process has gone: nobody to tell
            os.write(self.fd, line + b"\n")


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
    writer = PredictionLogWriter(store, WriterLimits(**setup["limits"]))
    reports = _Reports(report_fd, writer)
    try:
        while True:
            for kind, rows, payload in received:
                if kind == DATA:
                    writer.submit_group(DecodedRows(payload, rows))
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


if __name__ == "__main__":
    sys.exit(child_main(int(sys.argv[1]), int(sys.argv[2])))

"""The Monitoring page's figures computed in the background and kept in the cache folder.

Drift and back-testing read every logged row: on a log of millions of rows that takes tens
of seconds, far beyond what a page may take. So no page computes them: a child process does
(`Refresher`), when the console starts and when an analyst asks for a refresh, at most one
at a time, and writes the result as JSON (`monitoring.json`, replaced whole: a reader never
sees half of it) with when it was computed. The page renders the last result and says when
it was computed, or that a computation is under way.

A process (`python -m bankrisk.console.monitoring_cache`), not a thread: the computation is
mostly Python and numpy under the GIL, and a thread would stall the console's pages for its
whole length. The child runs at a lower CPU priority (`nice`), so a `bankrisk serve` on the
same machine keeps the cores it needs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from bankrisk.console.monitoring_figures import MonitoringFigures, from_json, to_json
from bankrisk.prediction_log.store import PredictionStore

logger = logging.getLogger("bankrisk.console")

FIGURES_FILE = "monitoring.json"
FAILED_FILE = "monitoring-failed.json"
NICENESS = 10


@dataclass(frozen=True)
class Job:
    """What the child needs to compute the figures (plain values: it starts afresh, and
    reads them as JSON on its standard input, so the log's URL and salt never show in a
    process list)."""

    log_url: str
    pseudonymise: bool
    salt: str | None
    model_dir: Path
    folder: Path
    warn: float
    alert: float
    runs_folder: Path | None = None  # where to keep the latest recorded runs read (Portfolio)
    warm_runs: int = 0  # how many of them

    def to_json(self) -> bytes:
        values = {
            **asdict(self),
            "model_dir": str(self.model_dir),
            "folder": str(self.folder),
            "runs_folder": None if self.runs_folder is None else str(self.runs_folder),
        }
        return json.dumps(values).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Job:
        values = json.loads(data)
        values["model_dir"], values["folder"] = Path(values["model_dir"]), Path(values["folder"])
        if values.get("runs_folder") is not None:
            values["runs_folder"] = Path(values["runs_folder"])
        return cls(**values)


@dataclass(frozen=True)
class Failure:
    """The last computation that failed: when and why."""

    at: datetime
    message: str


@dataclass(frozen=True)
class CacheState:
    """What the page can say: the last figures (None: none yet), whether a computation is
    running and since when, and the last failure after them."""

    figures: MonitoringFigures | None
    running_since: datetime | None
    failure: Failure | None


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def compute_into_folder(job: Job) -> None:
    """The child's work: the figures written to `job.folder`, or why not."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    from bankrisk.console.monitoring_figures import compute_figures
    from bankrisk.prediction_log.opening import open_reader

    job.folder.mkdir(parents=True, exist_ok=True)
    try:
        store = open_reader(job.log_url, pseudonymise=job.pseudonymise, salt=job.salt, create=False)
        if store is None:
            raise RuntimeError("the prediction log is off")
        try:
            figures = compute_figures(store, job.model_dir, job.warn, job.alert)
            _write_atomically(job.folder / FIGURES_FILE, to_json(figures))
            (job.folder / FAILED_FILE).unlink(missing_ok=True)
            _warm_runs(store, job)
        finally:
            store.close()
    except Exception as exc:  # the page says it failed; the details go to the log
        logger.exception("monitoring figures failed")
        failure = {"at": datetime.now(UTC).isoformat(), "message": _one_line(exc)}
        _write_atomically(job.folder / FAILED_FILE, json.dumps(failure).encode())
        raise SystemExit(1) from None


def _warm_runs(store: PredictionStore, job: Job) -> None:
    """The latest recorded runs read into the Portfolio page's folder, so that their first
    view does not wait for a scan of the log; a failure here leaves the figures alone."""
    if job.runs_folder is None or job.warm_runs <= 0:
        return
    from bankrisk.console.portfolio_sources import warm_runs

    try:
        warm_runs(store, job.runs_folder, job.warm_runs)
    except Exception:  # the page reads a run itself at its first view
        logger.exception("reading the latest portfolio runs failed")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


class Refresher:
    """Starts the child that computes the figures (one at a time) and reads what it left."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._started: datetime | None = None

    def _running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> bool:
        """Start a computation; False when one is running already."""
        with self._lock:
            if self._running():
                return False
            process = subprocess.Popen(
                [sys.executable, "-m", "bankrisk.console.monitoring_cache"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
            )
            assert process.stdin is not None
            with process.stdin:
                process.stdin.write(self.job.to_json())
            self._process, self._started = process, datetime.now(UTC)
            return True

    def running_since(self) -> datetime | None:
        with self._lock:
            return self._started if self._running() else None

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the running computation (tests, benchmarks)."""
        process = self._process
        if process is not None:
            process.wait(timeout)

    def stop(self) -> None:
        """End a running computation (the console is stopping)."""
        with self._lock:
            process = self._process
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)

    def state(self) -> CacheState:
        return CacheState(read_figures(self.job.folder), self.running_since(), self._failure())

    def _failure(self) -> Failure | None:
        try:
            data = json.loads((self.job.folder / FAILED_FILE).read_text())
            return Failure(datetime.fromisoformat(data["at"]), str(data["message"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


_last_read: dict[Path, tuple[tuple[int, int], MonitoringFigures]] = {}


def read_figures(folder: Path) -> MonitoringFigures | None:
    """The last figures written to `folder` (None: none yet, or unreadable); parsed again
    only when the file changed (every page view reads it)."""
    path = folder / FIGURES_FILE
    try:
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        kept = _last_read.get(path)
        if kept is not None and kept[0] == version:
            return kept[1]
        figures = from_json(path.read_bytes())
    except (OSError, ValidationError):
        return None
    _last_read[path] = (version, figures)
    return figures


def main() -> None:
    """The child: a `Job` as JSON on standard input."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    compute_into_folder(Job.from_json(sys.stdin.buffer.read()))


if __name__ == "__main__":
    main()

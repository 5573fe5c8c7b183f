"""Reading customers' 23 fields from the online store, for the API.

Importing this module imports neither Feast nor pandas: `OnlineFeatures.open` does, when a
service is configured with a feature repository. Reads run on a thread of their own, the ids
asked for meanwhile batched into the next read (`fetch`), so the event loop never waits for
the store.

Reads go to Feast's online store itself (`online_read`: the event time and the values of
each id), not through Feast's `get_online_features`, which costs several times the read's CPU
around it (docs/feature-store.md) and, in Feast 0.67, returns the same rows unchanged.

Staleness: the online stores give back rows older than the feature view's TTL as they are,
with their event time. So the age is judged here, from that event time and the TTL in the
registry: older than the TTL is `stale` (the API applies its policy).

The online store is whichever the repository's feature_store.yaml names (SQLite, Bigtable,
Datastore, Redis: docs/feature-store.md); each read gives up after READ_TIMEOUT_S (`bounds`),
so a store that hangs or is down is a prompt 503, not a request waiting for minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bankrisk.feature_store import FEATURE_VIEW, JOIN_KEY, FeatureStoreError
from bankrisk.feature_store.bounds import bound_reads
from bankrisk.feature_store.repo import feast_reads
from bankrisk.schema import FIELD_NAMES, OPTIONAL

log = logging.getLogger(__name__)

# gRPC's switch, read when grpc is first imported, for server-streaming calls (Bigtable's
# reads) run on the calling thread instead of a polling thread started for each call.
GRPC_STREAMS_ON_CALLER = "GRPC_SINGLE_THREADED_UNARY_STREAM"
# Ids read from the store in one Feast call at most (see `fetch`).
MAX_BATCH = 64
# How long one read of the store may take before the API answers 503.
READ_TIMEOUT_S = 2.0


class StoreUnavailableError(FeatureStoreError):
    """The store cannot answer (missing, not materialized, down): the API's 503."""


# What Feast's online stores give for a customer: the values by feature (ValueProtos).
Stored = dict[str, Any]
# A store's row: its event time and values; (None, None) for an id it does not hold.
Row = tuple[datetime | None, Stored | None]


def _value(proto: Any) -> Any:
    """A ValueProto's scalar, None when it holds none."""
    kind = None if proto is None else proto.WhichOneof("val")
    return None if kind is None else getattr(proto, kind)


def _event_time(stamp: datetime | None) -> datetime | None:
    """An online store's event time in UTC (a naive one is UTC already); None for none,
    which Feast's Redis store gives as the epoch."""
    if stamp is None:
        return None
    utc = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    return None if utc.timestamp() == 0 else utc


def _known(value: Any) -> Any:
    """A stored value, None when there is none: an optional field materialized without a
    value may come back as null or as NaN, depending on the online store."""
    return None if value is None or value != value else value  # NaN != NaN


@dataclass(frozen=True)
class CustomerFeatures:
    """A customer found in the online store: the 23 fields (an OPTIONAL field the store has
    no value of is None, not asked for), when they were recorded, and whether that is longer
    ago than the TTL."""

    values: dict[str, float | None]
    event_time: datetime | None
    ttl: timedelta | None

    @property
    def age(self) -> timedelta | None:
        return None if self.event_time is None else datetime.now(UTC) - self.event_time

    @property
    def stale(self) -> bool:
        age = self.age
        return age is not None and self.ttl is not None and age > self.ttl


# What the store gives for one id: its features, None (no such customer), or why not.
Found = CustomerFeatures | None | StoreUnavailableError
# A request waiting for its customer's features.
Waiting = tuple[str, "asyncio.Future[CustomerFeatures | None]"]


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:240]}"


def stream_on_the_calling_thread() -> None:
    """Have gRPC run server-streaming calls on the caller's thread (its switch is on with
    any value: one already set is left as it is): a Bigtable read then starts no thread of
    gRPC's and costs the service less CPU (docs/feature-store.md). Call it before anything
    imports grpc, while the process has one thread."""
    os.environ.setdefault(GRPC_STREAMS_ON_CALLER, "1")


class OnlineFeatures:
    """The online store of one Feast repository, opened on first use (and again after a
    failure, so a store that comes back is used without a restart)."""

    def __init__(self, repo: Path, read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.repo = repo
        self.read_timeout_s = read_timeout_s
        self._store: Any = None
        self._view: Any = None  # the feature view, from the registry
        self._ttl: timedelta | None = None
        self._lock = threading.RLock()
        # One thread of the store's, started with its first job: opening, then one read at a
        # time (Feast's work holds the GIL anyway). A queue and a callback rather than an
        # executor: a read then costs the service less CPU around it (docs/feature-store.md).
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._starting = threading.Lock()
        self._waiting: list[Waiting] = []
        # The loop whose batch is on the store's thread (None: no batch). A loop that closed
        # meanwhile will not take its answer: the next loop's fetch sends its own batch.
        self._reading_for: asyncio.AbstractEventLoop | None = None

    def start(
        self, report: Callable[[str, str], None], opened: Callable[[], None] | None = None
    ) -> None:
        """Open the store on a reader thread now, call `opened()` there once it is open, and
        `report(severity, message)` how that went: the service starts without waiting for
        Feast's import (seconds of CPU), and requests that come meanwhile queue behind it
        instead of failing."""

        def run() -> None:
            began = time.perf_counter()
            with self._lock:  # requests wait for the report too: it comes first in the log
                try:
                    self.open()
                except StoreUnavailableError as exc:
                    report("WARNING", f"feature store unavailable: {exc}")
                else:
                    if opened is not None:
                        opened()
                    seconds = time.perf_counter() - began
                    report("INFO", f"feature store {self.repo} opened in {seconds:.1f} s")

        self._submit(run)

    def _submit(self, job: Callable[[], None]) -> None:
        """Run `job` on the store's thread, after the jobs submitted before it."""
        if self._worker is None:
            with self._starting:
                if self._worker is None:
                    self._worker = threading.Thread(
                        target=self._run_jobs, name="feature-store", daemon=True
                    )
                    self._worker.start()
        self._jobs.put(job)

    def _run_jobs(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # a bug in one job: the thread goes on to the next
                log.exception("feature store: a job on the store's thread failed")

    def open(self) -> None:
        """Load Feast, the repository's configuration and the feature view; StoreUnavailableError
        saying what is missing."""
        with self._lock:
            if self._store is not None:
                return
            with feast_reads():
                store = self._open_store()
                # Kept even if the first read fails (a store server down): its clients
                # reconnect by themselves, where opening anew for each request would build
                # new ones (Bigtable's start threads of their own).
                self._store = store
                # A first read loads what Feast imports lazily (the online store's module
                # among them), here rather than in the first customer's request.
                self._query(store, [""])

    def _open_store(self) -> Any:
        from bankrisk.feature_store.repo import open_store

        try:
            store = open_store(self.repo)
        except FeatureStoreError as exc:
            raise StoreUnavailableError(str(exc)) from None
        self._check_online_file(store)
        try:
            view = store.get_feature_view(FEATURE_VIEW)
        except Exception as exc:  # no registry, or no such view in it
            raise StoreUnavailableError(
                f"feature view {FEATURE_VIEW} not found in {self.repo} ({_brief(exc)}): "
                "run `bankrisk features materialize`"
            ) from None
        self._view = view
        self._ttl = view.ttl if view.ttl else None
        try:
            bound_reads(store, self.read_timeout_s)
        except Exception as exc:  # the store's client cannot even be built (no credentials, ...)
            raise StoreUnavailableError(f"online store client failed: {_brief(exc)}") from None
        return store

    def _query(self, store: Any, customer_ids: list[str]) -> list[Row]:
        """The store's row of each id, read by Feast's online store itself: the event time
        and the values by feature, (None, None) where it holds none. Feast's
        `get_online_features` around the same read costs several times its CPU
        (docs/feature-store.md).

        The read asks for no features by name: a row holds the view's features, all of
        which the service reads. Named, Bigtable's store filters the row's cells through a
        regex of the names, which removes nothing and which its emulator compiles again for
        every cell."""
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        keys = [
            EntityKey(join_keys=[JOIN_KEY], entity_values=[Value(string_val=i)])
            for i in customer_ids
        ]
        try:
            rows: list[Row] = store._get_provider().online_store.online_read(
                store.config, self._view, keys, None
            )
            return rows
        except Exception as exc:  # sqlite, registry or network errors: all mean "cannot read"
            raise StoreUnavailableError(
                f"feature store read failed: {_brief(exc)}{self._which(store)}"
            ) from None

    def _which(self, store: Any) -> str:
        """Which server did not answer, for the 503's message (a SQLite file needs none)."""
        kind = str(getattr(store.config.online_store, "type", ""))
        if kind in ("", "sqlite"):
            return ""
        return f" ({kind} online store; a read gives up after {self.read_timeout_s:g} s)"

    def _check_online_file(self, store: Any) -> None:
        """A SQLite online store must exist already: Feast would create an empty one."""
        config = store.config.online_store
        if getattr(config, "type", "") != "sqlite":
            return
        path = Path(config.path)
        path = path if path.is_absolute() else self.repo / path
        if not path.is_file():
            raise StoreUnavailableError(
                f"online store {path} not found: run `bankrisk features materialize`"
            )

    def read_many(self, customer_ids: list[str]) -> list[Found]:
        """Each customer's features, None where the store has none, or the error of a row
        the store holds incompletely; StoreUnavailableError if the store cannot be read."""
        self.open()
        # Each id once: Bigtable gives one row for a key asked for twice.
        unique = list(dict.fromkeys(customer_ids))
        rows = self._query(self._store, unique)
        found = {
            customer_id: self._parse(customer_id, stamp, stored)
            for customer_id, (stamp, stored) in zip(unique, rows, strict=True)
        }
        return [found[customer_id] for customer_id in customer_ids]

    def read(self, customer_id: str) -> CustomerFeatures | None:
        """One customer's features (see `read_many`); StoreUnavailableError if none can be had."""
        (found,) = self.read_many([customer_id])
        if isinstance(found, StoreUnavailableError):
            raise found
        return found

    def _parse(self, customer_id: str, stamp: datetime | None, stored: Stored | None) -> Found:
        if stored is None:
            return None
        values = {name: _known(_value(stored.get(name))) for name in FIELD_NAMES}
        event_time = _event_time(stamp)
        # Feast's Redis store answers an id it does not hold with every field null and no
        # event time, where the others give no values.
        if event_time is None and all(v is None for v in values.values()):
            return None
        missing = [n for n, value in values.items() if value is None and n not in OPTIONAL]
        if missing:
            return StoreUnavailableError(
                f"the feature store holds no value of {', '.join(missing)} for customer "
                f"{customer_id!r}: materialize a complete data file"
            )
        return CustomerFeatures(
            {k: None if v is None else float(v) for k, v in values.items()}, event_time, self._ttl
        )

    async def fetch(self, customer_id: str) -> CustomerFeatures | None:
        """`read` on the store's own thread, batched: the ids asked for while a read is in
        flight go to the store together in the next one (a read's fixed cost is most of it,
        whatever the number of ids), so throughput grows with load."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CustomerFeatures | None] = loop.create_future()
        self._waiting.append((customer_id, future))
        if self._reading_for is None or self._reading_for.is_closed():
            self._read_next(loop)
        return await future

    def _read_next(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send the next batch of waiting ids to the store's thread (on the event loop)."""
        batch = self._waiting[:MAX_BATCH]
        del self._waiting[:MAX_BATCH]
        self._reading_for = loop
        self._submit(lambda: self._read_batch(loop, batch))

    def _read_batch(self, loop: asyncio.AbstractEventLoop, batch: list[Waiting]) -> None:
        """On the store's thread: read the batch, and hand the results to the event loop."""
        found: list[Found | Exception]
        try:
            found = [*self.read_many([customer_id for customer_id, _ in batch])]
        except Exception as exc:  # every waiting request gets the error, none hangs
            found = [exc] * len(batch)
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(self._deliver, loop, batch, found)

    def _deliver(
        self, loop: asyncio.AbstractEventLoop, batch: list[Waiting], found: list[Found | Exception]
    ) -> None:
        """On the event loop: each request of the batch gets its own result, then the ids
        that waited meanwhile go to the store."""
        for (_, future), result in zip(batch, found, strict=True):
            if future.done():  # the client went away
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._reading_for = None
        if self._waiting:
            self._read_next(loop)

    def close(self) -> None:
        """Stop the store's thread once the jobs already submitted are done."""
        self._jobs.put(None)

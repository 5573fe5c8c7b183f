"""Population stability index (PSI) against frozen training bins, batch and streaming.

The bins are the bundle's `reference_distributions` (`monitoring.reference`): edges frozen at
training time and the share of training rows in each bin. A current sample is counted in the
same bins, never re-binned on current data. PSI = sum over bins of (a - e) * ln(a / e), with
e the reference share and a the current share; a share of zero is floored at `EPSILON` (1e-4)
so that an empty bin counts as a large but finite change.

Under no drift PSI is not zero: with B bins, n current and N reference rows it behaves like
(1/n + 1/N) * chi2(B - 1), so its expectation is about (B - 1) * (1/n + 1/N)
(`expected_psi`). `StreamingPSI` keeps per-bin counts over a sliding time window for the
service: O(1) per request (rows counted in bulk), pure Python.
"""

from __future__ import annotations

import bisect
import math
import operator
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bankrisk.schema import FIELD_NAMES

EPSILON = 1e-4
# `StreamingPSI.update` counts the rows it holds in bulk once there are this many.
PENDING_ROWS = 256
OK, WARN, ALERT = "ok", "warn", "alert"


@dataclass(frozen=True)
class FrozenBins:
    """One characteristic's frozen bins: bin i holds inner[i-1] <= x < inner[i]."""

    edges: tuple[float, ...]
    proportions: tuple[float, ...]

    @classmethod
    def from_profile(cls, name: str, profile: Mapping[str, Any]) -> FrozenBins:
        """From a `reference_distributions` entry; ValueError naming it when malformed."""
        try:
            edges = tuple(float(e) for e in profile["edges"])
            proportions = tuple(float(p) for p in profile["proportions"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"reference distribution {name!r} is malformed: {exc!r}") from None
        if len(edges) < 2 or len(proportions) != len(edges) - 1:
            raise ValueError(
                f"reference distribution {name!r} has {len(edges)} edges for "
                f"{len(proportions)} bins (expected bins + 1 edges)"
            )
        if any(not math.isfinite(p) or p < 0 for p in proportions) or not math.isclose(
            sum(proportions), 1.0, abs_tol=1e-6
        ):
            raise ValueError(f"reference distribution {name!r}: shares must sum to 1")
        return cls(edges, proportions)

    @property
    def inner(self) -> tuple[float, ...]:
        return self.edges[1:-1]

    @property
    def bins(self) -> int:
        return len(self.proportions)

    def counts(self, values: Sequence[float]) -> list[int]:
        out = [0] * self.bins
        inner = self.inner
        for value in values:
            out[bisect.bisect_right(inner, value)] += 1
        return out


def psi_from_counts(
    reference: Sequence[float], counts: Sequence[int], epsilon: float = EPSILON
) -> float:
    """PSI of current bin counts against reference shares (zero shares floored at epsilon)."""
    n = sum(counts)
    if n == 0:
        return math.nan
    total = 0.0
    for expected, count in zip(reference, counts, strict=True):
        e = max(expected, epsilon)
        a = max(count / n, epsilon)
        total += (a - e) * math.log(a / e)
    return total


def expected_psi(bins: int, n: int, n_reference: int | None) -> float:
    """PSI expected under no drift: (bins - 1) * (1/n + 1/N)."""
    if n <= 0:
        return math.inf
    return (bins - 1) * (1.0 / n + (1.0 / n_reference if n_reference else 0.0))


def status(value: float, warn: float, alert: float) -> str:
    if math.isnan(value) or value < warn:
        return OK
    return ALERT if value >= alert else WARN


class StreamingPSI:
    """PSI per input field over a sliding time window, for a Prometheus gauge.

    The window is a ring of `buckets` buckets of `bucket_seconds` each (default: 60 one-minute
    buckets, the last hour). `update(raw)` adds one scored customer (the 23 inputs in
    `schema.FIELD_NAMES` order), so the cost does not grow with the window. `psi()` gives each
    field's PSI over the rows still in the window (NaN when it is empty), `n` how many rows
    that is. Thread-safe.

    `update` only keeps the row: rows are counted in bulk (`_count_pending`: per field, the
    values sorted once and one bisection per bin edge, rather than one per value) when
    `PENDING_ROWS` are held, when the time bucket changes, and before anything is read. For a
    single request this saves 23 bisections and counter updates (docs/performance.md).
    """

    def __init__(
        self,
        reference: Mapping[str, Mapping[str, Any]],
        fields: Sequence[str] = FIELD_NAMES,
        *,
        bucket_seconds: float = 60.0,
        buckets: int = 60,
        epsilon: float = EPSILON,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if bucket_seconds <= 0 or buckets < 1:
            raise ValueError("bucket_seconds must be > 0 and buckets >= 1")
        self.fields = [f for f in fields if f in reference]
        self._positions = [FIELD_NAMES.index(f) for f in self.fields]
        self._bins = [FrozenBins.from_profile(f, reference[f]) for f in self.fields]
        self._inner = [b.inner for b in self._bins]
        self.bucket_seconds = bucket_seconds
        self.buckets = buckets
        self.epsilon = epsilon
        self._clock = clock
        self._lock = threading.Lock()
        self._slot_of = [-(10**18)] * buckets  # absolute bucket number held by each ring slot
        self._slot_rows = [0] * buckets
        self._slot_counts = [[[0] * b.bins for b in self._bins] for _ in range(buckets)]
        self._totals = [[0] * b.bins for b in self._bins]
        self._rows = 0
        self._pending: list[tuple[float, ...]] = []  # rows not yet counted
        self._pending_bucket = 0  # the absolute bucket they belong to

    def _expire(self, slot: int) -> None:
        counts = self._slot_counts[slot]
        for field_totals, field_counts in zip(self._totals, counts, strict=True):
            for i, c in enumerate(field_counts):
                if c:
                    field_totals[i] -= c
                    field_counts[i] = 0
        self._rows -= self._slot_rows[slot]
        self._slot_rows[slot] = 0

    def _current_slot(self) -> tuple[int, int]:
        absolute = int(self._clock() // self.bucket_seconds)
        slot = absolute % self.buckets
        if self._slot_of[slot] != absolute:
            self._expire(slot)
            self._slot_of[slot] = absolute
        return absolute, slot

    def update(self, raw: Sequence[float]) -> None:
        """Count one customer's inputs (FIELD_NAMES order); non-finite values are skipped."""
        with self._lock:
            absolute = int(self._clock() // self.bucket_seconds)
            if absolute != self._pending_bucket:
                self._count_pending()
                self._pending_bucket = absolute
            self._pending.append(tuple(raw))
            if len(self._pending) >= PENDING_ROWS:
                self._count_pending()

    def _count_pending(self) -> None:
        """Add the rows held by `update` to their bucket (under the lock)."""
        rows, self._pending = self._pending, []
        if not rows:
            return
        slot = self._pending_bucket % self.buckets
        if self._slot_of[slot] != self._pending_bucket:
            self._expire(slot)
            self._slot_of[slot] = self._pending_bucket
        counts = self._slot_counts[slot]
        for k, position in enumerate(self._positions):
            values = sorted(v for row in rows if (v := float(row[position])) == v)  # not NaN
            # Bin i holds inner[i-1] <= x < inner[i]: count the values below each inner edge.
            below = [bisect.bisect_left(values, edge) for edge in self._inner[k]]
            held, totals = counts[k], self._totals[k]
            for i, c in enumerate(map(operator.sub, [*below, len(values)], [0, *below])):
                if c:
                    held[i] += c
                    totals[i] += c
        self._slot_rows[slot] += len(rows)
        self._rows += len(rows)

    @property
    def positions(self) -> list[int]:
        """Each tracked field's position in a raw row (FIELD_NAMES order)."""
        return list(self._positions)

    @property
    def inner_edges(self) -> list[tuple[float, ...]]:
        """Each tracked field's inner bin edges: bin i holds inner[i-1] <= x < inner[i]."""
        return list(self._inner)

    def add_counts(self, counts: Sequence[Sequence[int]], rows: int) -> None:
        """Count many customers at once: `counts[k][i]` of them fall in bin i of field k
        (`fields` order), as a caller computes in bulk (e.g. numpy `searchsorted` with
        `side="right"` on `inner_edges`, then `bincount`)."""
        if len(counts) != len(self._bins):
            raise ValueError(f"counts for {len(counts)} fields, expected {len(self._bins)}")
        with self._lock:
            self._count_pending()  # first: its bucket may be the same ring slot, long ago
            _, slot = self._current_slot()
            slot_counts = self._slot_counts[slot]
            for k, field_counts in enumerate(counts):
                held, totals = slot_counts[k], self._totals[k]
                for i, c in enumerate(field_counts):
                    if c:
                        held[i] += c
                        totals[i] += c
            self._slot_rows[slot] += rows
            self._rows += rows

    def _drop_stale(self) -> None:
        self._count_pending()
        absolute, _ = self._current_slot()
        for slot in range(self.buckets):
            if self._slot_of[slot] <= absolute - self.buckets and self._slot_rows[slot]:
                self._expire(slot)

    @property
    def n(self) -> int:
        with self._lock:
            self._drop_stale()
            return self._rows

    def psi(self) -> dict[str, float]:
        """Each field's PSI over the window against its frozen training bins."""
        with self._lock:
            self._drop_stale()
            return {
                field: psi_from_counts(bins.proportions, totals, self.epsilon)
                for field, bins, totals in zip(self.fields, self._bins, self._totals, strict=True)
            }

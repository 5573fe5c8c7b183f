"""Frozen bins (point masses get their own bin, nothing collapses, nothing is empty), PSI with
smoothing and its no-drift expectation, and the service's sliding-window StreamingPSI."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bankrisk.monitoring.psi import (
    EPSILON,
    FrozenBins,
    StreamingPSI,
    expected_psi,
    psi_from_counts,
    status,
)
from bankrisk.monitoring.reference import bin_index, decile_profile
from bankrisk.schema import FIELD_NAMES


def test_a_point_mass_of_zeros_gets_its_own_bin() -> None:
    rng = np.random.default_rng(0)
    payments = np.where(rng.random(20_000) < 0.3, 0.0, rng.lognormal(8, 1, 20_000))
    profile = decile_profile(payments)
    edges = profile["edges"]
    assert edges[0] == 0.0 and edges[1] == math.nextafter(0.0, math.inf)
    assert profile["proportions"][0] == pytest.approx(np.mean(payments == 0))
    # A small positive payment is not lumped with the zeros.
    inner = np.asarray(edges[1:-1])
    assert bin_index(inner, np.array([0.0]))[0] != bin_index(inner, np.array([1.0]))[0]


def test_a_point_mass_inside_the_range_and_ties_never_leave_an_empty_bin() -> None:
    rng = np.random.default_rng(1)
    bills = np.concatenate([-rng.lognormal(6, 1, 500), np.zeros(3000), rng.lognormal(9, 1, 6500)])
    codes = rng.choice([-2, -1, 0, 1, 2, 3, 8], 10_000, p=[0.1, 0.2, 0.5, 0.1, 0.05, 0.03, 0.02])
    for values in (bills, codes.astype(float), np.full(100, 5.0)):
        profile = decile_profile(values)
        assert all(p > 0 for p in profile["proportions"]), profile
        assert sum(profile["proportions"]) == pytest.approx(1.0)
        assert len(profile["edges"]) == len(profile["proportions"]) + 1
        assert list(profile["edges"]) == sorted(profile["edges"])
    zero = decile_profile(bills)
    inner = np.asarray(zero["edges"][1:-1])
    assert 0.0 in inner and math.nextafter(0.0, math.inf) in inner
    assert zero["proportions"][int(bin_index(inner, np.array([0.0]))[0])] == pytest.approx(0.3)


def test_psi_is_zero_for_identical_shares_and_finite_for_empty_bins() -> None:
    assert psi_from_counts([0.25] * 4, [25, 25, 25, 25]) == pytest.approx(0.0)
    empty = psi_from_counts([0.5, 0.5, 0.0], [0, 100, 0])
    assert math.isfinite(empty) and empty > 1.0
    expected = (1 - 0.5) * math.log(1 / 0.5) + (EPSILON - 0.5) * math.log(EPSILON / 0.5)
    assert empty == pytest.approx(expected)
    assert math.isnan(psi_from_counts([0.5, 0.5], [0, 0]))
    assert [status(v, 0.1, 0.25) for v in (0.05, 0.1, 0.2, 0.25, 3.0)] == [
        "ok",
        "warn",
        "warn",
        "alert",
        "alert",
    ]


def test_no_drift_psi_matches_its_expectation() -> None:
    """Mean PSI of samples from the reference itself ~ (B - 1) * (1/n + 1/N)."""
    rng = np.random.default_rng(2)
    reference = rng.normal(size=20_000)
    profile = decile_profile(reference)
    bins = FrozenBins.from_profile("x", profile)
    n = 200
    values = [
        psi_from_counts(bins.proportions, bins.counts(rng.normal(size=n).tolist()))
        for _ in range(400)
    ]
    expected = expected_psi(bins.bins, n, reference.size)
    assert np.mean(values) == pytest.approx(expected, rel=0.15)
    assert expected == pytest.approx(9 * (1 / 200 + 1 / 20_000))


def reference_of(rng: np.random.Generator) -> dict[str, dict[str, object]]:
    return {
        "LIMIT_BAL": decile_profile(rng.lognormal(11, 0.7, 5000)),
        "PAY_0": decile_profile(rng.choice([-2, -1, 0, 1, 2], 5000).astype(float)),
    }


def row(limit: float, pay0: float) -> list[float]:
    values = [0.0] * len(FIELD_NAMES)
    values[FIELD_NAMES.index("LIMIT_BAL")] = limit
    values[FIELD_NAMES.index("PAY_0")] = pay0
    return values


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_streaming_psi_equals_batch_psi_and_slides() -> None:
    rng = np.random.default_rng(3)
    reference = reference_of(rng)
    clock = Clock()
    stream = StreamingPSI(reference, bucket_seconds=60, buckets=10, clock=clock)
    assert stream.fields == ["LIMIT_BAL", "PAY_0"]
    assert all(math.isnan(v) for v in stream.psi().values()) and stream.n == 0
    limits = rng.lognormal(11, 0.7, 3000)
    pays = rng.choice([-2, -1, 0, 1, 2], 3000).astype(float)
    for i, (limit, pay) in enumerate(zip(limits, pays, strict=True)):
        clock.now = i * 0.1  # 300 s of traffic: 5 buckets
        stream.update(row(limit, pay))
    bins = FrozenBins.from_profile("LIMIT_BAL", reference["LIMIT_BAL"])
    batch = psi_from_counts(bins.proportions, bins.counts(limits.tolist()))
    assert stream.n == 3000
    assert stream.psi()["LIMIT_BAL"] == pytest.approx(batch)
    assert stream.psi()["LIMIT_BAL"] < 0.05
    # Ten minutes of tripled limits: the old traffic leaves the window, the PSI alerts.
    for i in range(3000):
        clock.now = 300 + 600 * i / 3000
        stream.update(row(limits[i] * 3, pays[i]))
    clock.now = 905
    assert stream.n <= 3000
    assert stream.psi()["LIMIT_BAL"] > 0.25 and stream.psi()["PAY_0"] < 0.05
    # Nothing for longer than the window: it empties.
    clock.now = 5000
    assert stream.n == 0 and math.isnan(stream.psi()["LIMIT_BAL"])


def test_streaming_rows_counted_in_bulk_as_one_by_one() -> None:
    """`update` holds rows and counts them in bulk (sorted, one bisection per edge): values
    exactly on a bin edge, NaN, and rows held across time buckets are counted as
    `FrozenBins.counts` counts them one value at a time."""
    rng = np.random.default_rng(5)
    reference = reference_of(rng)
    bins = FrozenBins.from_profile("LIMIT_BAL", reference["LIMIT_BAL"])
    clock = Clock()
    stream = StreamingPSI(reference, bucket_seconds=60, buckets=10, clock=clock)
    limits = [*bins.inner, *rng.lognormal(11, 0.7, 700).tolist(), math.nan, *bins.inner]
    for i, limit in enumerate(limits):
        clock.now = i * 0.5  # 6 minutes: rows held across buckets, more than PENDING_ROWS
        stream.update(row(limit, 0.0))
    finite = [v for v in limits if not math.isnan(v)]
    assert stream.n == len(limits)
    assert stream.psi()["LIMIT_BAL"] == psi_from_counts(bins.proportions, bins.counts(finite))
    # Rows held when a batch is counted at once (`add_counts`) are not lost.
    stream.update(row(bins.inner[0], 0.0))
    stream.add_counts([[1] + [0] * (bins.bins - 1), [1] + [0] * 5], 1)
    assert stream.n == len(limits) + 2

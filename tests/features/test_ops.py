"""The two evaluators of the one definition of the features and reason attributes (numpy over
columns, plain Python over one row) agree bit for bit: on the shared data and on edge rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bankrisk.data.load import load_dataset
from bankrisk.features.engineering import FeatureSet, build_features, build_features_row
from bankrisk.features.ops import COLUMNS, ROW, Ops
from bankrisk.features.reasons import (
    HIGH_USE,
    LOW_USE,
    PAID_RATIO,
    TREND_STEP,
    ReasonPolicy,
    evaluate,
    measure,
    reason_indices,
    select_reasons,
    select_reasons_row,
)
from bankrisk.schema import FIELD_NAMES
from helpers.factories import make_raw

COL = {name: i for i, name in enumerate(FIELD_NAMES)}
FEATURE_SETS = [FeatureSet(age, education) for age in (False, True) for education in (False, True)]
POLICY = ReasonPolicy(low_credit_limit=50_000.0, baseline_rows=1)


def bits(values: object) -> np.ndarray:
    """The float64 bit patterns (-0.0 and 0.0 differ, as they do in a reason's text)."""
    return np.asarray(values, dtype=np.float64).view(np.int64)


def set_fields(raw: np.ndarray, row: int, **values: float) -> None:
    for name, value in values.items():
        raw[row, COL[name]] = value


def edge_rows() -> np.ndarray:
    """Valid rows at the definitions' edges: signed zeros, ties between months, clip bounds,
    bin edges hit exactly, every repayment status, the smallest and largest amounts."""
    raw, _ = make_raw(40, seed=11)
    bills = [f"BILL_AMT{m}" for m in range(1, 7)]
    paid = [f"PAY_AMT{m}" for m in range(1, 7)]
    status = ["PAY_0", *(f"PAY_{m}" for m in range(2, 7))]
    set_fields(raw, 0, **dict.fromkeys(bills + paid, 0.0))
    set_fields(raw, 1, **dict.fromkeys(bills + paid, -0.0))
    set_fields(raw, 2, **dict.fromkeys(status, -0.0))
    set_fields(raw, 3, **dict(zip(status, (-2, -1, 0, 1, 9, 8), strict=True)))
    set_fields(raw, 4, **dict.fromkeys(status, 9.0))
    set_fields(raw, 5, **dict.fromkeys(status, -2.0))
    set_fields(raw, 6, **dict.fromkeys(status, -1.0))
    set_fields(raw, 7, **dict(zip(status, (3, 3, 0, 3, 0, 3), strict=True)))  # tied maxima
    # Owed under 1, exactly 1, paid twice the bill exactly, paid at the paid-ratio cut.
    set_fields(raw, 8, BILL_AMT2=0.5, BILL_AMT3=1.0, PAY_AMT2=2.0, BILL_AMT4=1000.0)
    set_fields(raw, 8, PAY_AMT3=1000.0 * PAID_RATIO, BILL_AMT5=-0.0, PAY_AMT4=0.0)
    set_fields(raw, 9, LIMIT_BAL=1.0, BILL_AMT1=1e8, BILL_AMT2=-1e8, PAY_AMT1=1e8)
    set_fields(raw, 10, LIMIT_BAL=1e8, **dict.fromkeys(bills, 1.0))
    # Utilisation and its trend exactly at the bin edges.
    set_fields(raw, 11, LIMIT_BAL=100_000.0, **dict.fromkeys(bills, 100_000.0 * LOW_USE))
    set_fields(raw, 12, LIMIT_BAL=100_000.0, **dict.fromkeys(bills, 100_000.0 * HIGH_USE))
    set_fields(raw, 13, LIMIT_BAL=100_000.0, BILL_AMT1=100_000.0 * TREND_STEP, BILL_AMT6=0.0)
    set_fields(raw, 14, LIMIT_BAL=100_000.0, BILL_AMT6=100_000.0 * TREND_STEP, BILL_AMT1=0.0)
    set_fields(raw, 15, BILL_AMT1=-0.0, BILL_AMT6=0.0, BILL_AMT2=-5.0, PAY_AMT1=0.0)
    set_fields(raw, 16, LIMIT_BAL=POLICY.low_credit_limit)
    set_fields(raw, 17, PAY_AMT1=-0.0, BILL_AMT2=500.0, PAY_AMT2=0.0, BILL_AMT3=-0.0)
    for row, code in zip(range(18, 25), (0, 1, 2, 3, 4, 5, 6), strict=True):
        set_fields(raw, row, EDUCATION=code, AGE=18 + row)
    return raw


@pytest.fixture(scope="module")
def shared_raw(shared_csv: Path) -> np.ndarray:
    return load_dataset(shared_csv)[list(FIELD_NAMES)].to_numpy(dtype=np.float64)


@pytest.mark.parametrize("features", FEATURE_SETS)
def test_features_of_one_row_equal_the_columns_bit_for_bit(
    shared_raw: np.ndarray, features: FeatureSet
) -> None:
    for raw in (shared_raw, edge_rows()):
        columns = build_features(raw, features)
        rows = [build_features_row(row, features) for row in raw.tolist()]
        np.testing.assert_array_equal(bits(rows), bits(columns))


def test_the_edge_rows_reach_the_edges() -> None:
    """The edge rows do contain signed zeros and ties in the features (else the test above
    would not test them)."""
    features = build_features(edge_rows())
    assert (bits(features) == bits(-0.0)).any()
    assert (features == 0.0).any()


def test_attributes_of_one_row_equal_the_columns_bit_for_bit(shared_raw: np.ndarray) -> None:
    for raw in (shared_raw[:5000], edge_rows()):
        features = build_features(raw)
        measured = measure(raw, features, POLICY)
        for i, (row, feature_row) in enumerate(zip(raw.tolist(), features.tolist(), strict=True)):
            index, values = evaluate(row, feature_row, POLICY.low_credit_limit, ROW)
            assert index == measured.index[i].tolist()
            for named, columns in zip(values, measured.values, strict=True):
                assert named.keys() == columns.keys()
                assert bits(list(named.values())).tolist() == [
                    bits(column[i]) for column in columns.values()
                ]


def test_reasons_of_one_row_equal_the_batch_with_ties_in_contributions() -> None:
    raw = edge_rows()
    features = build_features(raw)
    rng = np.random.default_rng(4)
    # Contributions from a few values, so that many rows have ties (then REASON_CODES order).
    by_group = rng.choice([-0.5, 0.0, 0.2, 0.7], size=(len(raw), 8))
    batch = select_reasons(raw, features, by_group, POLICY)
    chosen = reason_indices(measure(raw, features, POLICY).index, by_group)
    for i, (row, feature_row, contributions) in enumerate(
        zip(raw.tolist(), features.tolist(), by_group.tolist(), strict=True)
    ):
        assert select_reasons_row(row, feature_row, contributions, POLICY) == batch[i]
        assert len(batch[i]) == int((chosen[i] >= 0).sum())
    assert sum(map(len, batch)) > len(raw)


VALUES = np.array([-3.0, -1.0, -0.0, 0.0, 0.0, -0.0, 1e-300, 0.1, 0.5, 1.0, 2.0, 2.0, 7.5, 1e8])


@pytest.mark.parametrize(
    "apply",
    [
        lambda ops, x, y: ops.where(x > y, x, y),
        lambda ops, x, y: ops.clip(x, -1.0, 2.0),
        lambda ops, x, y: ops.clip(x, 0.0, y),
        lambda ops, x, y: ops.largest([x, y, x * 0.0, -y]),
        lambda ops, x, y: ops.log1p(abs(x)),
        lambda ops, x, y: ops.log(abs(x) + 1e-300),
        lambda ops, x, y: ops.count([x > 0, y == 0, x == y]),
        lambda ops, x, y: ops.bin((0.0, 0.1, 0.5), x),
        lambda ops, x, y: ops.lookup((5, 6, 7, 8), abs(y) % 4),
        lambda ops, x, y: ops.rounded(x * y / 7.0, 4),
        lambda ops, x, y: ops.rounded(x / 1e4 + y * 0.5e-4, 4),  # halves: 0.5e-4 and more
    ],
)
def test_each_op_agrees_on_signed_zeros_ties_and_edges(apply: object) -> None:
    assert callable(apply)
    x = np.repeat(VALUES, len(VALUES))
    y = np.tile(VALUES, len(VALUES))
    ops: tuple[Ops, Ops] = (COLUMNS, ROW)
    columns = np.broadcast_to(apply(ops[0], x, y), x.shape)
    one = [apply(ops[1], a, b) for a, b in zip(x.tolist(), y.tolist(), strict=True)]
    np.testing.assert_array_equal(bits(one), bits(columns))

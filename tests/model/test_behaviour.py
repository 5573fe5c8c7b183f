"""Behavioural tests of the trained champion (as in Made-With-ML's tests/model): whatever
family wins, its served PDs must move the right way, ignore protected attributes and get
the clear cases right.

The champion is the session's one training on the shared data (`trained` in
tests/conftest.py, shared with tests/training/test_train_e2e.py), or the bundle given with
`--model-dir` (tests/model/conftest.py); its serving bundle, loaded back from disk, is what is
tested. Rows are real held-out customers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.schema import FIELD_NAMES, PAY_AMOUNTS, PAY_STATUS

if TYPE_CHECKING:
    pass

pytestmark = pytest.mark.slow
COL = {name: j for j, name in enumerate(FIELD_NAMES)}
WORST_STATUS = 8  # 8 months late; 9 means "9 and more"


@pytest.fixture(scope="module")
def customers(held_out: np.ndarray) -> np.ndarray:
    """The raw fields of the held-out test customers."""
    return held_out


def assert_never_lower(champion: ModelBundle, before: np.ndarray, after: np.ndarray) -> None:
    """PD(after) >= PD(before) for every row, and the change moved some PDs up."""
    changed = np.any(before != after, axis=1)
    assert changed.sum() > 100, "the perturbation should change many customers"
    pd_before, pd_after = champion.predict_pd(before), champion.predict_pd(after)
    lower = pd_after < pd_before
    assert not lower.any(), (
        f"{int(lower.sum())} of {int(changed.sum())} customers got a lower PD, by up to "
        f"{float(np.max(pd_before - pd_after)):.2e}"
    )
    assert np.mean(pd_after[changed]) > np.mean(pd_before[changed])


@pytest.mark.parametrize("status", PAY_STATUS)
def test_one_more_month_late_never_lowers_the_pd(
    champion: ModelBundle, customers: np.ndarray, status: str
) -> None:
    # Not late (-2 no consumption, -1 paid in full, 0 revolving) becomes 1 month late; k
    # months late becomes k + 1.
    worse = customers.copy()
    j = COL[status]
    worse[:, j] = np.minimum(np.maximum(customers[:, j], 0) + 1, WORST_STATUS)
    assert_never_lower(champion, customers, worse)


@pytest.mark.parametrize("payment", PAY_AMOUNTS[:5])
@pytest.mark.parametrize("share", [0.5, 0.0])
def test_a_smaller_payment_never_lowers_the_pd(
    champion: ModelBundle, customers: np.ndarray, payment: str, share: float
) -> None:
    # PAY_AMT i pays the bill of the month before (BILL_AMT i+1): paying less lowers the
    # payment ratio. PAY_AMT6's bill is outside the window, so it has no ratio.
    smaller = customers.copy()
    smaller[:, COL[payment]] = np.floor(customers[:, COL[payment]] * share)
    assert_never_lower(champion, customers, smaller)


def test_worse_everything_at_once_never_lowers_the_pd(
    champion: ModelBundle, customers: np.ndarray
) -> None:
    worse = customers.copy()
    for status in PAY_STATUS:
        worse[:, COL[status]] = np.minimum(np.maximum(worse[:, COL[status]], 0) + 2, 8)
    for payment in PAY_AMOUNTS[:5]:
        worse[:, COL[payment]] = np.floor(worse[:, COL[payment]] / 3)
    assert_never_lower(champion, customers, worse)


def test_protected_attributes_leave_the_pd_identical(
    champion: ModelBundle, customers: np.ndarray
) -> None:
    rng = np.random.default_rng(0)
    changed = customers.copy()
    changed[:, COL["SEX"]] = 3 - customers[:, COL["SEX"]]  # 1 <-> 2
    changed[:, COL["MARRIAGE"]] = (customers[:, COL["MARRIAGE"]] + 1) % 4  # 0..3, all moved
    if not champion.use_age:
        changed[:, COL["AGE"]] = rng.integers(21, 80, customers.shape[0])
    np.testing.assert_array_equal(champion.predict_pd(changed), champion.predict_pd(customers))


def test_age_leaves_the_pd_identical_when_age_is_off(
    champion: ModelBundle, customers: np.ndarray
) -> None:
    assert not champion.use_age, "trained with the default settings: AGE is not an input"
    for age in (21, 45, 75):
        older = customers.copy()
        older[:, COL["AGE"]] = age
        np.testing.assert_array_equal(champion.predict_pd(older), champion.predict_pd(customers))


def customer(**fields: float) -> np.ndarray:
    """One raw row: a 35-year-old with a 50,000 limit, then the given fields."""
    base = {"LIMIT_BAL": 50_000, "SEX": 2, "EDUCATION": 2, "MARRIAGE": 1, "AGE": 35}
    values = {**base, **fields}
    assert set(values) == set(FIELD_NAMES), set(FIELD_NAMES) ^ set(values)
    return np.array([[values[name] for name in FIELD_NAMES]], dtype=np.float64)


def test_chronically_late_maxed_out_customer_far_riskier_than_one_paying_in_full(
    champion: ModelBundle,
) -> None:
    # 3 to 8 months late (most recent first: the delay grew by a month each month), the
    # balance at the limit, nothing paid.
    late = customer(
        **{s: d for s, d in zip(PAY_STATUS, (8, 7, 6, 5, 4, 3), strict=True)},
        **{f"BILL_AMT{i}": 50_000 for i in range(1, 7)},
        **{p: 0 for p in PAY_AMOUNTS},
    )
    # Paid in full every month: each payment settles the previous month's 10,000 bill (20% of
    # the limit). With a 10% balance this model puts the PD at 0.106, just above the review
    # cut-off (0.10): very low use raises its risk (README, Reason codes), so that customer is
    # no clear case.
    diligent = customer(
        **{s: -1 for s in PAY_STATUS},
        **{f"BILL_AMT{i}": 10_000 for i in range(1, 7)},
        **{p: 10_000 for p in PAY_AMOUNTS},
    )
    pd_late = float(champion.predict_pd(late)[0])
    pd_diligent = float(champion.predict_pd(diligent)[0])
    assert pd_late > 0.5 > 0.2 > pd_diligent, (pd_late, pd_diligent)
    assert pd_late > 4 * pd_diligent
    late_scores, diligent_scores = champion.score(late), champion.score(diligent)
    assert late_scores.decisions[0] == "decline" and diligent_scores.decisions[0] == "approve"
    assert late_scores.points[0] < diligent_scores.points[0]


def test_every_month_3_late_is_riskier_than_never_late(
    champion: ModelBundle, customers: np.ndarray
) -> None:
    # The same customers (same limits, bills and payments), once never late and once three
    # months late every month: every one of them must be riskier late.
    late, on_time = customers.copy(), customers.copy()
    for status in PAY_STATUS:
        late[:, COL[status]] = 3
        on_time[:, COL[status]] = 0
    pd_late, pd_on_time = champion.predict_pd(late), champion.predict_pd(on_time)
    assert np.all(pd_late > pd_on_time)
    assert np.median(pd_late - pd_on_time) > 0.2

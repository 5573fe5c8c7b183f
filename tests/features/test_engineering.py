import numpy as np
import pytest

from bankrisk.features.engineering import (
    PROTECTED_GROUP,
    REASON_CODES,
    build_features,
    feature_groups,
    feature_names,
)
from bankrisk.schema import FIELD_NAMES
from factories import make_raw

COL = {name: i for i, name in enumerate(FIELD_NAMES)}


def one_customer(**values: float) -> np.ndarray:
    raw, _ = make_raw(1, seed=3)
    for name, value in values.items():
        raw[0, COL[name]] = value
    return raw


def feature(raw: np.ndarray, name: str, use_age: bool = False) -> float:
    return float(build_features(raw, use_age)[0, feature_names(use_age).index(name)])


def test_shape_names_and_groups_align() -> None:
    raw, _ = make_raw(50)
    for use_age in (False, True):
        features = build_features(raw, use_age)
        assert features.shape == (50, len(feature_names(use_age)))
        assert len(feature_groups(use_age)) == features.shape[1]
        assert np.isfinite(features).all()
    assert feature_names(True)[-1] == "age"
    assert feature_groups(True)[-1] == PROTECTED_GROUP


def test_every_group_has_a_reason_code() -> None:
    groups = {r.group for r in REASON_CODES}
    assert set(feature_groups(False)) <= groups
    assert len({r.code for r in REASON_CODES}) == len(REASON_CODES)


def test_protected_attributes_do_not_change_features() -> None:
    raw, _ = make_raw(200)
    changed = raw.copy()
    changed[:, COL["SEX"]] = 3 - changed[:, COL["SEX"]]
    changed[:, COL["MARRIAGE"]] = (changed[:, COL["MARRIAGE"]] + 1) % 4
    changed[:, COL["AGE"]] = 99
    np.testing.assert_array_equal(build_features(raw), build_features(changed))
    assert not np.array_equal(build_features(raw, True), build_features(changed, True))


@pytest.mark.parametrize(("code", "expected"), [(0, 4), (5, 4), (6, 4), (1, 1), (3, 3), (4, 4)])
def test_undocumented_education_codes_merge_into_others(code: int, expected: int) -> None:
    assert feature(one_customer(EDUCATION=code), "education") == expected


def test_delinquency_features() -> None:
    raw = one_customer(PAY_0=-2, PAY_2=0, PAY_3=3, PAY_4=-1, PAY_5=1, PAY_6=0)
    assert feature(raw, "months_late_count") == 2
    assert feature(raw, "max_months_late") == 3
    assert feature(raw, "months_since_late") == 2  # July, two months before September
    assert feature(raw, "paid_in_full_count") == 1
    assert feature(raw, "no_consumption_count") == 1
    never_late = one_customer(**{f"PAY_{i}": 0 for i in (0, 2, 3, 4, 5, 6)})
    assert feature(never_late, "months_since_late") == 6
    assert feature(never_late, "months_late_count") == 0


def test_utilization_and_payment_ratio() -> None:
    raw = one_customer(LIMIT_BAL=100_000, BILL_AMT1=50_000, BILL_AMT2=20_000, PAY_AMT1=5_000)
    assert feature(raw, "utilization_1") == pytest.approx(0.5)
    # September's payment settles August's bill.
    assert feature(raw, "payment_ratio_1") == pytest.approx(0.25)
    no_bill = one_customer(BILL_AMT2=0, PAY_AMT1=0)
    assert feature(no_bill, "payment_ratio_1") == 1.0  # nothing owed counts as paid
    overpaid = one_customer(BILL_AMT2=100, PAY_AMT1=1e6)
    assert feature(overpaid, "payment_ratio_1") == 2.0


def test_missed_payments_count_owed_months_with_nothing_paid() -> None:
    raw = one_customer(
        BILL_AMT2=5_000,
        PAY_AMT1=0,  # owed, nothing paid: missed
        BILL_AMT3=5_000,
        PAY_AMT2=100,  # owed, something paid
        BILL_AMT4=0,
        PAY_AMT3=0,  # nothing owed
        BILL_AMT5=-20,
        PAY_AMT4=0,  # a credit balance
        BILL_AMT6=7_000,
        PAY_AMT5=0,  # owed, nothing paid: missed
    )
    assert feature(raw, "missed_payment_count") == 2


def test_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match="23 fields"):
        build_features(np.zeros((2, 5)))

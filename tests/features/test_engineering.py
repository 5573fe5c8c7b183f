import math
from collections.abc import Mapping

import numpy as np
import pytest

from bankrisk.features.engineering import (
    DEFAULT_FEATURES,
    EDUCATION_GROUP,
    PROTECTED_GROUP,
    FeatureSet,
    build_features,
    feature_groups,
    feature_names,
)
from bankrisk.features.reasons import REASON_CODES, reason_group_matrix
from bankrisk.schema import FIELD_NAMES
from helpers.factories import make_raw

COL = {name: i for i, name in enumerate(FIELD_NAMES)}


def one_customer(**values: float) -> np.ndarray:
    raw, _ = make_raw(1, seed=3)
    for name, value in values.items():
        raw[0, COL[name]] = value
    return raw


FEATURE_SETS = [FeatureSet(age, education) for age in (False, True) for education in (False, True)]
WITH_AGE = FeatureSet(use_age=True)
WITH_EDUCATION = FeatureSet(use_education=True)


def feature(raw: np.ndarray, name: str, features: FeatureSet = DEFAULT_FEATURES) -> float:
    return float(build_features(raw, features)[0, feature_names(features).index(name)])


def test_shape_names_and_groups_align() -> None:
    raw, _ = make_raw(50)
    for feature_set in FEATURE_SETS:
        features = build_features(raw, feature_set)
        assert features.shape == (50, len(feature_names(feature_set)))
        assert len(feature_groups(feature_set)) == features.shape[1]
        assert np.isfinite(features).all()
    assert feature_names(WITH_AGE)[-1] == "age"
    assert feature_groups(WITH_AGE)[-1] == PROTECTED_GROUP
    assert feature_names(FeatureSet(True, True))[-2:] == ["education", "age"]
    assert "education" not in feature_names(), "EDUCATION is not an input by default"


def test_every_group_has_a_reason_code() -> None:
    groups = {r.group for r in REASON_CODES}
    assert set(feature_groups()) <= groups
    assert len({r.code for r in REASON_CODES}) == len(REASON_CODES)


def test_protected_attributes_do_not_change_features() -> None:
    raw, _ = make_raw(200)
    changed = raw.copy()
    changed[:, COL["SEX"]] = 3 - changed[:, COL["SEX"]]
    changed[:, COL["MARRIAGE"]] = (changed[:, COL["MARRIAGE"]] + 1) % 4
    changed[:, COL["AGE"]] = 99
    np.testing.assert_array_equal(build_features(raw), build_features(changed))
    assert not np.array_equal(build_features(raw, WITH_AGE), build_features(changed, WITH_AGE))


def test_education_changes_features_only_when_it_is_an_input() -> None:
    raw, _ = make_raw(200)
    changed = raw.copy()
    changed[:, COL["EDUCATION"]] = 1 + changed[:, COL["EDUCATION"]] % 3
    np.testing.assert_array_equal(build_features(raw), build_features(changed))
    assert not np.array_equal(
        build_features(raw, WITH_EDUCATION), build_features(changed, WITH_EDUCATION)
    )


@pytest.mark.parametrize(("code", "expected"), [(0, 4), (5, 4), (6, 4), (1, 1), (3, 3), (4, 4)])
def test_undocumented_education_codes_merge_into_others(code: int, expected: int) -> None:
    assert feature(one_customer(EDUCATION=code), "education", WITH_EDUCATION) == expected


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


# ---- every column by name, against an independent computation -----------------------------


def expected_features(c: Mapping[str, float]) -> dict[str, float]:
    """The features of one customer `c` (raw fields by name), computed here from their
    definitions, independently of `build_features`' column layout."""
    pay = [c[f"PAY_{m}"] for m in (0, 2, 3, 4, 5, 6)]
    bill = [c[f"BILL_AMT{m}"] for m in range(1, 7)]
    paid = [c[f"PAY_AMT{m}"] for m in range(1, 7)]
    limit = c["LIMIT_BAL"]
    late = [max(p, 0) for p in pay]
    util = [b / limit for b in bill]
    # PAY_AMT m settles BILL_AMT m+1; nothing owed = fully paid; capped to [0, 2].
    ratio = [
        min(max(paid[m] / max(bill[m + 1], 1) if bill[m + 1] > 0 else 1.0, 0.0), 2.0)
        for m in range(5)
    ]
    late_months = [m for m, v in enumerate(late) if v > 0]
    out = {
        "log_limit_bal": math.log(limit),
        "education": c["EDUCATION"] if 1 <= c["EDUCATION"] <= 4 else 4,
        **{f"pay_status_{m}": v for m, v in zip((0, 2, 3, 4, 5, 6), pay, strict=True)},
        "months_late_count": len(late_months),
        "max_months_late": max(late),
        "months_since_late": late_months[0] if late_months else 6,
        "late_trend": late[0] - sum(late[1:]) / 5,
        "paid_in_full_count": pay.count(-1),
        "no_consumption_count": pay.count(-2),
        **{f"utilization_{m + 1}": u for m, u in enumerate(util)},
        "utilization_mean": sum(util) / 6,
        "utilization_max": max(util),
        "utilization_trend": util[0] - util[5],
        "bill_growth_3m": (bill[0] - bill[3]) / limit,
        **{f"payment_ratio_{m + 1}": r for m, r in enumerate(ratio)},
        "payment_ratio_mean": sum(ratio) / 5,
        "unpaid_share_1": min(max((bill[1] - paid[0]) / limit, -1.0), 2.0),
        "log_pay_amt_1": math.log(1 + paid[0]),
        "log_pay_amt_2": math.log(1 + paid[1]),
        "log_pay_amt_mean": math.log(1 + sum(paid) / 6),
        "payment_to_limit": sum(paid) / 6 / limit,
        "signed_log_bill_1": math.copysign(math.log(1 + abs(bill[0])), bill[0]),
        "missed_payment_count": sum(1 for m in range(5) if paid[m] == 0 and bill[m + 1] > 0),
        "age": c["AGE"],
    }
    return out


HAND_MADE = [
    # Late twice, a credit balance, one missed payment, an undocumented education code.
    {
        "LIMIT_BAL": 50_000, "SEX": 1, "EDUCATION": 5, "MARRIAGE": 2, "AGE": 41,
        "PAY_0": 2, "PAY_2": -1, "PAY_3": 0, "PAY_4": 3, "PAY_5": -2, "PAY_6": 0,
        "BILL_AMT1": 47_000, "BILL_AMT2": 30_000, "BILL_AMT3": -500, "BILL_AMT4": 12_000,
        "BILL_AMT5": 0, "BILL_AMT6": 8_000,
        "PAY_AMT1": 0, "PAY_AMT2": 1_000, "PAY_AMT3": 5_000, "PAY_AMT4": 0,
        "PAY_AMT5": 300, "PAY_AMT6": 700,
    },
    # Never late, pays in full, over-pays one bill (ratio capped at 2).
    {
        "LIMIT_BAL": 360_000, "SEX": 2, "EDUCATION": 1, "MARRIAGE": 1, "AGE": 29,
        "PAY_0": -1, "PAY_2": -1, "PAY_3": -1, "PAY_4": -1, "PAY_5": -1, "PAY_6": -1,
        "BILL_AMT1": 1_200, "BILL_AMT2": 900, "BILL_AMT3": 100, "BILL_AMT4": 2_500,
        "BILL_AMT5": 3_000, "BILL_AMT6": 4_000,
        "PAY_AMT1": 900, "PAY_AMT2": 1_000, "PAY_AMT3": 2_500, "PAY_AMT4": 3_000,
        "PAY_AMT5": 4_000, "PAY_AMT6": 10,
    },
    # Late every month, balance over the limit and growing, negative first bill.
    {
        "LIMIT_BAL": 10_000, "SEX": 1, "EDUCATION": 3, "MARRIAGE": 3, "AGE": 70,
        "PAY_0": 4, "PAY_2": 3, "PAY_3": 2, "PAY_4": 1, "PAY_5": 2, "PAY_6": 8,
        "BILL_AMT1": -2_000, "BILL_AMT2": 14_000, "BILL_AMT3": 13_000, "BILL_AMT4": 12_500,
        "BILL_AMT5": 11_000, "BILL_AMT6": 9_000,
        "PAY_AMT1": 0, "PAY_AMT2": 0, "PAY_AMT3": 0, "PAY_AMT4": 100, "PAY_AMT5": 0,
        "PAY_AMT6": 0,
    },
]  # fmt: skip


@pytest.mark.parametrize("features", FEATURE_SETS, ids=str)
def test_every_feature_column_by_name(features: FeatureSet) -> None:
    raw = np.array([[float(c[name]) for name in FIELD_NAMES] for c in HAND_MADE])
    built = build_features(raw, features)
    names = feature_names(features)
    for i, customer in enumerate(HAND_MADE):
        expected = expected_features(customer)
        for j, name in enumerate(names):
            assert built[i, j] == pytest.approx(expected[name], rel=1e-12, abs=1e-12), (i, name)


def test_age_and_education_are_never_a_reason_when_they_are_model_inputs() -> None:
    both = FeatureSet(use_age=True, use_education=True)
    names, groups = feature_names(both), feature_groups(both)
    matrix = reason_group_matrix(both)
    extras = [names.index("education"), names.index("age")]
    assert [groups[j] for j in extras] == [EDUCATION_GROUP, PROTECTED_GROUP]
    assert not {PROTECTED_GROUP, EDUCATION_GROUP} & {r.group for r in REASON_CODES}
    assert not matrix[extras].any(), "their contributions must count towards no reason group"
    # Every other feature counts towards exactly one reason group.
    others = np.delete(matrix, extras, axis=0)
    assert (others.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(others, reason_group_matrix(FeatureSet()))

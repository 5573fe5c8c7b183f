"""Reason codes: each characteristic's attribute and text on hand-made customers, the rules
that pick reasons, and the same truthful reasons from every model family."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.features.engineering import build_features
from bankrisk.features.ops import ROW
from bankrisk.features.reasons import (
    ADVERSE,
    ATTRIBUTE_INDEX,
    BASELINE_POPULATION,
    MAX_REASONS,
    REASON_CODES,
    ReasonCode,
    ReasonPolicy,
    attributes,
    catalogue,
    measure,
    select_reasons,
    select_reasons_row,
    stated_columns,
)
from bankrisk.schema import FIELD_NAMES
from helpers.factories import make_bundle, make_raw
from helpers.reason_checker import ADVERSE_PHRASINGS, FAVOURABLE, non_adverse, tally, tally_adverse

POLICY = ReasonPolicy(low_credit_limit=50_000, baseline_rows=100)
CODES = [r.code for r in REASON_CODES]


def row(**fields: float) -> dict[str, float]:
    """A customer: limit 100,000, revolving and never late, 40% utilisation, paying 2,000 a
    month, then `fields`."""
    base: dict[str, float] = {
        "LIMIT_BAL": 100_000, "SEX": 2, "EDUCATION": 2, "MARRIAGE": 1, "AGE": 35,
        **{f"PAY_{m}": 0 for m in (0, 2, 3, 4, 5, 6)},
        **{f"BILL_AMT{m}": 40_000 for m in range(1, 7)},
        **{f"PAY_AMT{m}": 2_000 for m in range(1, 7)},
    }  # fmt: skip
    return {**base, **fields}


def raw_of(*customers: dict[str, float]) -> np.ndarray:
    return np.array([[float(c[name]) for name in FIELD_NAMES] for c in customers])


def described(customer: dict[str, float], code: str) -> tuple[str, str, str]:
    raw = raw_of(customer)
    measured = measure(raw, build_features(raw), POLICY)
    attribute, value, text = measured.describe(0, CODES.index(code))
    return attribute.key, value, text


PAID_DULY = {f"PAY_{m}": -1 for m in (0, 2, 3, 4, 5, 6)}
CASES: list[tuple[dict[str, float], str, tuple[str, str, str]]] = [
    (row(PAY_0=2), "R01", ("late", "PAY_0 = 2", "Payment 2 months late in September")),
    (row(PAY_0=1), "R01", ("late", "PAY_0 = 1", "Payment 1 month late in September")),
    (row(PAY_0=9), "R01", ("late", "PAY_0 = 9", "Payment 9 or more months late in September")),
    (
        row(),
        "R01",
        (
            "revolving",
            "PAY_0 = 0 (revolving)",
            "Only part of the bill was paid in September (revolving credit)",
        ),
    ),
    (row(PAY_0=-2), "R01", ("no_use", "PAY_0 = -2 (no use)", "No use of the card in September")),
    (row(PAY_0=-1), "R01", ("paid_in_full", "PAY_0 = -1 (paid)", "Bill paid in full in September")),
    (
        row(PAY_0=0, PAY_3=2, PAY_5=3),
        "R02",
        (
            "late",
            "2 of 6 months late, worst 3 months",
            "Late in 2 of the last six months, up to 3 months late (most recently in July)",
        ),
    ),
    (
        row(PAY_2=-1, PAY_3=-1),
        "R02",
        (
            "revolving",
            "3 of 5 months revolving, never late",
            "Only part of the bill paid (revolving credit) in 3 of the five months before "
            "September",
        ),
    ),
    (
        row(**PAID_DULY),
        "R02",
        ("never_late", "0 of 6 months late", "Never late in the last six months"),
    ),
    (
        row(**{f"BILL_AMT{m}": 3_000 for m in range(1, 7)}),
        "R03",
        (
            "low_use",
            "average balance 3.0% of the limit",
            "Little use of the credit limit: average balance 3.0% of the limit over the last "
            "six months",
        ),
    ),
    (
        row(**{f"BILL_AMT{m}": -1_000 for m in range(1, 7)}),
        "R03",
        (
            "credit_balance",
            "average balance -1.0% of the limit",
            "Little use of the credit limit: card in credit on average over the last six "
            "months (average balance -1.0% of the limit)",
        ),
    ),
    (
        row(),
        "R03",
        (
            "moderate",
            "average balance 40.0% of the limit",
            "Average balance 40% of the credit limit over the last six months",
        ),
    ),
    (
        row(**{f"BILL_AMT{m}": 85_000 for m in range(1, 7)}),
        "R03",
        (
            "high",
            "average balance 85.0% of the limit",
            "Balance high relative to the credit limit: average 85% over the last six months",
        ),
    ),
    (
        row(PAY_AMT1=0, PAY_AMT3=0),
        "R04",
        (
            "missed",
            "2 of 5 bills with nothing paid",
            "Nothing paid against the bill in 2 of the last five months",
        ),
    ),
    (
        row(),
        "R04",
        (
            "part_paid",
            "average payment 5% of the bill",
            "Only part of each bill paid: on average 5% of the bill over the last five months",
        ),
    ),
    (
        row(**{f"PAY_AMT{m}": 40_000 for m in range(1, 7)}),
        "R04",
        (
            "paid",
            "average payment 100% of the bill",
            "Bills paid: on average 100% of each bill over the last five months",
        ),
    ),
    (
        row(LIMIT_BAL=20_000, **{f"BILL_AMT{m}": 8_000 for m in range(1, 7)}),
        "R05",
        (
            "low",
            "NT$ 20,000",
            "Low credit limit: NT$ 20,000 (a limit of NT$ 50,000 or less counts as low)",
        ),
    ),
    (row(), "R05", ("other", "NT$ 100,000", "Credit limit of NT$ 100,000")),
    (
        row(BILL_AMT6=10_000, BILL_AMT1=60_000),
        "R06",
        (
            "rising",
            "10.0% of the limit in April, 60.0% in September",
            "Growing balance: it rose from 10.0% to 60.0% of the credit limit from April to "
            "September",
        ),
    ),
    (
        row(BILL_AMT6=60_000, BILL_AMT1=10_000),
        "R06",
        (
            "falling",
            "60.0% of the limit in April, 10.0% in September",
            "Balance fell from 60.0% to 10.0% of the credit limit from April to September",
        ),
    ),
    (
        row(BILL_AMT6=40_000, BILL_AMT1=40_500),
        "R06",
        (
            "steady",
            "40.0% of the limit in April, 40.5% in September",
            "Balance about the same share of the credit limit in April and September "
            "(40.0% and 40.5%)",
        ),
    ),
    (
        row(**{f"PAY_AMT{m}": 0 for m in range(1, 7)}),
        "R07",
        ("none", "NT$ 0", "No payments in the last six months"),
    ),
    (
        row(),
        "R07",
        (
            "some",
            "NT$ 2,000 a month",
            "Average monthly payment NT$ 2,000 (2.0% of the credit limit) over the last six months",
        ),
    ),
    (
        row(**{f"PAY_AMT{m}": 1_999 for m in range(1, 7)}),
        "R07",
        (
            "small",
            "NT$ 1,999 a month",
            "Small payments: on average NT$ 1,999 a month over the last six months (2.0% of the "
            "credit limit)",
        ),
    ),
    (
        row(PAY_0=-2, PAY_4=-2, PAY_2=-1),
        "R09",
        (
            "no_use",
            "2 of 6 months without use",
            "No use of the card in 2 of the last six months",
        ),
    ),
    (
        row(PAY_0=-1, PAY_4=-1),
        "R09",
        (
            "some_paid_in_full",
            "2 of 6 months paid in full",
            "Bill not paid in full in 4 of the last six months",
        ),
    ),
    (
        row(),
        "R09",
        (
            "never_paid_in_full",
            "0 of 6 months paid in full",
            "Bill not paid in full in any of the last six months",
        ),
    ),
    (
        row(**PAID_DULY),
        "R09",
        (
            "paid_in_full",
            "6 of 6 months paid in full",
            "Bill paid in full every month of the last six",
        ),
    ),
]


@pytest.mark.parametrize(
    ("customer", "code", "expected"),
    CASES,
    ids=[f"{code}-{expected[0]}" for _, code, expected in CASES],
)
def test_attribute_value_and_text(
    customer: dict[str, float], code: str, expected: tuple[str, str, str]
) -> None:
    assert described(customer, code) == expected


def test_every_attribute_is_covered_and_only_adverse_ones_may_be_stated() -> None:
    covered = {(code, expected[0]) for _, code, expected in CASES}
    every = {(r.code, a.key) for r in REASON_CODES for a in r.attributes}
    assert covered == every
    stated = {(r.code, a.key) for r in REASON_CODES for a in r.attributes if a.adverse}
    # The checker's own list of adverse attributes, written apart from the catalogue.
    assert stated == set(ADVERSE_PHRASINGS)
    assert not stated & FAVOURABLE
    assert {("R05", "other"), ("R06", "falling"), ("R06", "steady")} <= every - stated
    assert "R08" not in CODES, "EDUCATION (R08) is never a reason"


@pytest.mark.parametrize(
    ("customer", "code", "expected"),
    [case for case in CASES if (case[1], case[2][0]) in ADVERSE_PHRASINGS],
    ids=[f"{c}-{e[0]}" for _, c, e in CASES if (c, e[0]) in ADVERSE_PHRASINGS],
)
def test_every_adverse_text_is_worded_as_a_reason_against_the_customer(
    customer: dict[str, float], code: str, expected: tuple[str, str, str]
) -> None:
    key, value, text = expected
    reason = {"code": code, "attribute": key, "value": value, "text": text}
    assert non_adverse([reason]) == []
    # The checker is not a rubber stamp: the old neutral wordings fail it.
    assert non_adverse([{**reason, "text": "Credit limit of NT$ 90,000"}]) != []


def test_shares_just_below_zero_never_print_as_minus_zero() -> None:
    # Balances a hair below zero: shares of -0.04% of the limit, shown as 0.0%.
    in_credit = {f"BILL_AMT{m}": -40 for m in range(1, 7)}
    rising = row(**{**in_credit, "BILL_AMT1": 30_000})
    credit = row(**in_credit)
    texts = [described(rising, "R03"), described(rising, "R06"), described(credit, "R03")]
    assert [t[0] for t in texts] == ["low_use", "rising", "credit_balance"]
    assert texts[1][2].startswith("Growing balance: it rose from 0.0% to 30.0%"), texts[1]
    assert texts[2][1] == "average balance 0.0% of the limit", texts[2]
    for _, value, text in texts:
        assert "-0.0%" not in value and "-0.0%" not in text
    raw = raw_of(rising, credit)
    by_group = np.ones((2, len(CODES)))
    for reasons in select_reasons(raw, build_features(raw), by_group, POLICY):
        assert reasons and non_adverse(reasons) == []


def test_every_code_names_its_attributes_by_distinct_keys() -> None:
    assert len({r.code for r in REASON_CODES}) == len(REASON_CODES)
    for r in REASON_CODES:
        keys = [a.key for a in r.attributes]
        assert len(set(keys)) == len(keys), r.code
        assert ATTRIBUTE_INDEX[r.code] == {key: keys.index(key) for key in keys}
        assert all(r.attribute(key).key == key for key in keys)
    assert ATTRIBUTE_INDEX.keys() == set(CODES)


def rules_on(codes: tuple[ReasonCode, ...], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh copy of `reasons.attributes`, its rules written against the catalogue `codes`
    (the package's own modules are left as they are)."""
    monkeypatch.setattr(catalogue, "REASON_CODES", codes)
    monkeypatch.setattr(
        catalogue,
        "ATTRIBUTE_INDEX",
        {r.code: {a.key: i for i, a in enumerate(r.attributes)} for r in codes},
    )
    spec = importlib.util.spec_from_file_location("reordered_rules", attributes.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_rules_choose_attributes_by_key_not_by_position(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With every code's attributes listed in reverse order, every customer (each attribute
    of every code, and synthetic ones) gets the same attribute keys, in a batch and alone."""
    raw = np.vstack([raw_of(*(customer for customer, _, _ in CASES)), make_raw(300, seed=2)[0]])
    features = build_features(raw)
    expected = measure(raw, features, POLICY).index
    keys = [
        [r.attributes[a].key for r, a in zip(REASON_CODES, row, strict=True)] for row in expected
    ]
    reversed_codes = tuple(replace(r, attributes=r.attributes[::-1]) for r in REASON_CODES)
    rules = rules_on(reversed_codes, monkeypatch)
    batch = rules.measure(raw, features, POLICY).index
    alone = [
        rules.evaluate(r, f, POLICY.low_credit_limit, ROW)[0]
        for r, f in zip(raw.tolist(), features.tolist(), strict=True)
    ]
    for index in (batch.tolist(), alone):
        assert [
            [r.attributes[a].key for r, a in zip(reversed_codes, row, strict=True)] for row in index
        ] == keys
    assert (batch != expected).any()  # the positions did change


def test_only_positive_adverse_reasons_largest_first_at_most_four() -> None:
    customer = row(PAY_0=2, **{f"BILL_AMT{m}": 90_000 for m in range(1, 7)}, PAY_AMT1=0)
    raw = raw_of(customer, row(**PAID_DULY))
    by_group = np.zeros((2, len(CODES)))
    by_group[0] = [0.5, 0.9, 0.1, 0.3, -0.2, 0.00004, 0.2, 0.05]
    by_group[1] = 1.0  # every characteristic raised the risk: only adverse ones are stated
    first, second = select_reasons(raw, build_features(raw), by_group, POLICY)
    assert [r["code"] for r in first] == ["R02", "R01", "R04", "R07"]
    assert [r["contribution"] for r in first] == [0.9, 0.5, 0.3, 0.2]
    assert len(first) == MAX_REASONS
    second_keys = [(r["code"], r["attribute"]) for r in second]
    # A moderate balance, a limit that is not low, a steady balance and payments that are not
    # small counted against this customer too, but are no reason: only part-paid bills are.
    assert second_keys == [("R04", "part_paid")]
    assert non_adverse(first) == [] and non_adverse(second) == []
    assert ADVERSE.shape[0] == len(CODES)
    # A contribution that rounds to 0.0000 (R06 above) or is negative (R05) is no reason.
    by_group[0] = [0, 0, 0, 0, -0.2, 0.00004, 0, 0]
    assert select_reasons(raw[:1], build_features(raw[:1]), by_group[:1], POLICY) == [[]]


def test_a_reason_is_stated_exactly_when_its_served_contribution_is_positive() -> None:
    """At the rounding boundary: 0.00005 is served as 0.0 (half to even), the next float up
    as 0.0001; the single row and the batch agree."""
    customer = row(PAY_0=2, **{f"BILL_AMT{m}": 90_000 for m in range(1, 7)}, PAY_AMT1=0)
    raw = raw_of(customer)
    features = build_features(raw)
    half = 0.5e-4
    for contribution, stated in [(half, []), (np.nextafter(half, 1.0), [1e-4]), (1.26e-4, [1e-4])]:
        by_group = np.zeros((1, len(CODES)))
        by_group[0, CODES.index("R01")] = contribution
        batch = select_reasons(raw, features, by_group, POLICY)[0]
        one = select_reasons_row(
            raw[0].tolist(), features[0].tolist(), by_group[0].tolist(), POLICY
        )
        assert [r["contribution"] for r in batch] == stated
        assert one == batch


def test_texts_formatted_in_bulk_equal_each_rows_own() -> None:
    """A batch formats each (code, attribute) once over all the rows that state it, and
    caches the texts of counts and statuses: every row gets the reasons it gets alone, in
    any order of the batch."""
    raw = raw_of(*(customer for customer, _, _ in CASES), *(c for c, _, _ in CASES[::-1]))
    by_group = np.random.default_rng(0).uniform(-0.1, 1.0, (len(raw), len(CODES)))
    features = build_features(raw)
    batch = select_reasons(raw, features, by_group, POLICY)
    alone = [
        select_reasons(raw[i : i + 1], features[i : i + 1], by_group[i : i + 1], POLICY)[0]
        for i in range(len(raw))
    ]
    assert batch == alone
    assert select_reasons(raw[::-1], features[::-1], by_group[::-1], POLICY) == batch[::-1]
    assert sum(map(len, batch)) > 2 * len(raw)
    assert len({(r["code"], r["attribute"]) for reasons in batch for r in reasons}) > 12


def test_stated_columns_are_the_batchs_reasons_slot_by_slot() -> None:
    """The columnar reasons of a portfolio file (`stated_columns`) are `select_reasons`'
    reasons: the same codes, attributes, values, texts and contributions, in the same slots,
    with nothing where a row has fewer reasons."""
    raw = np.vstack([raw_of(*(customer for customer, _, _ in CASES)), make_raw(300, seed=5)[0]])
    by_group = np.random.default_rng(1).uniform(-0.5, 1.0, (len(raw), len(CODES)))
    features = build_features(raw)
    expected = select_reasons(raw, features, by_group, POLICY)
    columns = stated_columns(measure(raw, features, POLICY), by_group)
    assert {len(reasons) for reasons in expected} >= {1, 2, 3, 4}
    for i, reasons in enumerate(expected):
        for k in range(MAX_REASONS):
            j, a = int(columns.codes[i, k]), int(columns.attributes[i, k])
            got = (j, a, columns.values[k, i], columns.texts[k, i], columns.contributions[i, k])
            if k >= len(reasons):
                assert got[:4] == (-1, -1, None, None) and np.isnan(got[4])
                continue
            r = reasons[k]
            code = REASON_CODES[j]
            assert (code.code, code.attributes[a].key, got[2], got[3], got[4]) == (
                r["code"], r["attribute"], r["value"], r["text"], r["contribution"]
            )  # fmt: skip


def test_policy_from_development_rows() -> None:
    raw, labels = make_raw(400, seed=3)
    policy = ReasonPolicy.from_development(raw, labels)
    limits = raw[:, FIELD_NAMES.index("LIMIT_BAL")]
    assert policy.low_credit_limit in set(limits)
    assert 0.25 <= np.mean(limits <= policy.low_credit_limit) < 0.5
    assert policy.baseline_rows == int((labels == 0).sum())
    assert policy.to_dict()["baseline"] == {
        "population": BASELINE_POPULATION,
        "rows": policy.baseline_rows,
    }


@pytest.fixture(scope="module", params=["scorecard", "gbm", "mlp"])
def family_bundle(request: pytest.FixtureRequest) -> ModelBundle:
    return make_bundle(family=request.param)


def test_every_family_scores_one_row_as_a_batch(family_bundle: ModelBundle) -> None:
    """`score_row` (plain Python around one model call) equals `score`: to the last bit for
    boosted trees (ONNX); the scorecard's and the MLP's matrix products may add up a (1, k)
    row in another order than a batch's (BLAS), so their model outputs are equal to 1e-12."""
    raw, _ = make_raw(300, seed=21)
    scores = family_bundle.score(raw)
    rows = [family_bundle.score_row(r) for r in raw.tolist()]
    exact = family_bundle.predictor.kind == "onnx_trees"
    probabilities = [r.probability for r in rows]
    if exact:
        assert probabilities == scores.pd.tolist()
    np.testing.assert_allclose(probabilities, scores.pd, rtol=1e-12, atol=1e-15)
    assert [r.points for r in rows] == scores.points.tolist()
    assert [r.grade for r in rows] == scores.grades
    assert [r.decision for r in rows] == scores.decisions
    assert [r.reasons for r in rows] == scores.reasons
    features = family_bundle.features(raw)
    logit, by_group = family_bundle.predictor.explain(features)
    one = [family_bundle.predictor.explain_one(f) for f in features.tolist()]
    if exact:
        assert one == list(zip(logit.tolist(), by_group.tolist(), strict=True))
    np.testing.assert_allclose([o[0] for o in one], logit, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose([o[1] for o in one], by_group, rtol=1e-12, atol=1e-15)


def test_every_family_gives_true_reasons_on_one_path(family_bundle: ModelBundle) -> None:
    raw, _ = make_raw(1000, seed=8)
    customers: list[dict[str, Any]] = [dict(zip(FIELD_NAMES, r, strict=True)) for r in raw]
    reasons = family_bundle.score(raw).reasons
    given, untrue, problems = tally(
        customers, reasons, family_bundle.reason_policy.low_credit_limit
    )
    assert sum(given.values()) > 1000, given
    assert not untrue and not problems, problems
    not_adverse, _, problems = tally_adverse(reasons)
    assert not not_adverse, problems
    # The single-row path gives the very same reasons.
    assert [family_bundle.score_row(r.tolist()).reasons for r in raw[:100]] == reasons[:100]
    # Reasons centred on the good payers: a typical good payer has few reasons.
    counts = family_bundle.reason_frequencies(raw)
    assert sum(c["given"] for c in counts.values()) == sum(given.values())

"""The column-wise check of a batch slice accepts exactly the records the per-record rules
accept: a valid slice gives the same matrix and ids as reading each record field by field,
and any problem gives the per-record errors (the 422 bodies' `errors`), indexed from the
slice's offset."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from bankrisk.core.validation import (
    DEFAULT_RULES,
    MAX_CUSTOMER_ID_LENGTH,
    InputRules,
    check_records,
    input_rules,
    record_errors,
)
from bankrisk.features.engineering import FeatureSet
from bankrisk.schema import FIELD_NAMES, OPTIONAL

# The default model (no optional field is an input) and one that scores AGE and EDUCATION.
RULES = [DEFAULT_RULES, input_rules(FeatureSet(use_age=True, use_education=True))]

# Values a client may send in place of a number or an id (JSON has no other kinds).
ODD_VALUES: list[Any] = [
    True,
    False,
    None,
    "1",
    "",
    [],
    {},
    [1],
    1.5,
    -1,
    -0.0,
    2.0,
    10**30,
    10**400,
    2**63,
    1e308,
    float("nan"),
    float("inf"),
    "x" * (MAX_CUSTOMER_ID_LENGTH + 1),
    "x" * MAX_CUSTOMER_ID_LENGTH,
]


def per_record(records: list[Any], offset: int, rules: InputRules = DEFAULT_RULES) -> Any:
    """What the per-record rules say: the errors, else the rows and ids field by field (an
    optional field absent or null as NaN)."""
    errors = [e for i, r in enumerate(records) for e in record_errors(r, offset + i, rules)]
    if errors:
        return errors
    rows = [
        [np.nan if r.get(name) is None else float(r[name]) for name in FIELD_NAMES] for r in records
    ]
    return np.array(rows, dtype=np.float64).reshape(-1, len(FIELD_NAMES)), [
        r.get("customer_id") for r in records
    ]


def assert_same(records: list[Any], offset: int = 0, rules: InputRules = DEFAULT_RULES) -> None:
    expected = per_record(records, offset, rules)
    checked = check_records(records, offset, rules=rules)
    if isinstance(expected, list):
        assert checked == expected
    else:
        assert not isinstance(checked, list), checked
        assert np.array_equal(checked[0], expected[0], equal_nan=True)
        assert checked[1] == expected[1]


def mutated(record: dict[str, Any], rng: random.Random) -> Any:
    record = dict(record)
    roll = rng.random()
    if roll < 0.05:
        return rng.choice([1, "x", [], None, [record]])
    if roll < 0.2:
        record.pop(rng.choice(list(record)), None)
    elif roll < 0.3:
        record[rng.choice(["extra", "customer_id", "limit_bal"])] = rng.choice(ODD_VALUES)
    elif roll < 0.4:
        record["customer_id"] = rng.choice(ODD_VALUES)
    else:
        record[rng.choice(FIELD_NAMES)] = rng.choice(ODD_VALUES)
    return record


@pytest.mark.parametrize("rules", RULES)
def test_random_slices_are_judged_as_record_by_record(
    random_customers: list[dict[str, Any]], rules: InputRules
) -> None:
    rng = random.Random(5)
    without_id = [{k: v for k, v in r.items() if k != "customer_id"} for r in random_customers]
    null_id = [{**r, "customer_id": None} for r in random_customers]
    # Without the optional fields, or with them null, or some of them.
    without_optional = [{k: v for k, v in r.items() if k not in OPTIONAL} for r in random_customers]
    null_optional = [{**r, **dict.fromkeys(OPTIONAL)} for r in random_customers]
    some_optional = [
        {k: v for k, v in r.items() if k not in ("SEX", "AGE")} for r in random_customers
    ]
    kinds = [random_customers, without_id, null_id, without_optional, null_optional, some_optional]
    valid = 0
    for _ in range(3000):
        records = [
            dict(rng.choice(rng.choice(kinds)))
            if rng.random() > 0.1
            else mutated(rng.choice(random_customers), rng)
            for _ in range(rng.choice([1, 2, 5, 20]))
        ]
        assert_same(records, offset=rng.choice([0, 200, 4000]), rules=rules)
        valid += not isinstance(check_records(records, rules=rules), list)
    assert 300 < valid < 2700  # both outcomes were exercised


@pytest.mark.parametrize(
    "change",
    [
        # One record has an unknown field and no id, another an id: as many keys as two
        # records with ids, so keys must be matched per record, not just counted.
        lambda rs: (rs[0].pop("customer_id"), rs[0].update(extra=1)),
        lambda rs: rs[1].update(customer_id=None),  # null: allowed, and given back as None
        lambda rs: rs[2].update(customer_id=""),
        lambda rs: rs[2].update(customer_id=7),
        lambda rs: rs[0].update(PAY_0=True),
        lambda rs: rs[0].update(LIMIT_BAL="50000"),
        lambda rs: rs[0].update(PAY_0=2.0),  # a whole number written as a float: allowed
        lambda rs: rs[0].update(BILL_AMT1=10**400),
        lambda rs: rs[0].update(BILL_AMT1=float("nan")),
        lambda rs: rs.__setitem__(1, [rs[1]]),
        lambda rs: rs[0].pop("SEX"),  # optional: absent, then null, then out of range
        lambda rs: rs[0].update(MARRIAGE=None),
        lambda rs: rs[0].update(SEX=7),
        lambda rs: rs[0].update(SEX=float("nan")),  # a NaN given is not a null
        lambda rs: (rs[0].pop("AGE"), rs[0].update(extra=1)),  # keys matched, not counted
        lambda rs: (rs[0].pop("AGE"), rs[1].update(MARRIAGE=None)),
    ],
)
@pytest.mark.parametrize("rules", RULES)
def test_edge_cases_are_judged_as_record_by_record(
    random_customers: list[dict[str, Any]], change: Any, rules: InputRules
) -> None:
    records = [dict(r) for r in random_customers[:3]]
    change(records)
    assert_same(records, offset=400, rules=rules)


def test_optional_fields_absent_are_nan_and_given_are_kept(
    random_customers: list[dict[str, Any]],
) -> None:
    records = [dict(r) for r in random_customers[:4]]
    for name in OPTIONAL:
        records[0].pop(name)
    records[1]["SEX"] = None
    matrix, _ = check_records(records)  # type: ignore[misc]
    optional = [FIELD_NAMES.index(name) for name in OPTIONAL]
    assert np.isnan(matrix[0, optional]).all()
    assert np.isnan(matrix[1, FIELD_NAMES.index("SEX")])
    assert not np.isnan(matrix[1:, optional[1:]]).any()
    assert matrix[2, FIELD_NAMES.index("AGE")] == records[2]["AGE"]


def test_a_model_input_stays_required_and_is_named(
    random_customers: list[dict[str, Any]],
) -> None:
    """AGE with use_age (EDUCATION with use_education): absent or null, refused by name."""
    records = [dict(r) for r in random_customers[:3]]
    records[0].pop("AGE")
    records[1]["EDUCATION"] = None
    records[2].pop("SEX")  # still optional
    checked = check_records(records, rules=RULES[1])
    assert isinstance(checked, list)
    assert [(e["index"], e["field"]) for e in checked] == [(0, "AGE"), (1, "EDUCATION")]
    assert checked[0]["message"] == checked[1]["message"] == "field required: an input of the model"
    assert not isinstance(check_records(records), list)  # the default model asks neither


def test_a_valid_slice_keeps_values_exactly(random_customers: list[dict[str, Any]]) -> None:
    records = [dict(r) for r in random_customers[:50]]
    records[3]["BILL_AMT2"] = 12345.678
    records[4]["PAY_AMT1"] = 10**8 - 1
    matrix, ids = check_records(records)  # type: ignore[misc]
    assert matrix.shape == (50, len(FIELD_NAMES))
    assert matrix[3, FIELD_NAMES.index("BILL_AMT2")] == 12345.678
    assert matrix[4, FIELD_NAMES.index("PAY_AMT1")] == 10**8 - 1
    assert ids == [r["customer_id"] for r in records]

"""The column-wise check of a batch slice accepts exactly the records the per-record rules
accept: a valid slice gives the same matrix and ids as reading each record field by field,
and any problem gives the per-record errors (the 422 bodies' `errors`), indexed from the
slice's offset."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from bankrisk.core.validation import MAX_CUSTOMER_ID_LENGTH, check_records, record_errors
from bankrisk.schema import FIELD_NAMES

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


def per_record(records: list[Any], offset: int) -> Any:
    """What the per-record rules say: the errors, else the rows and ids field by field."""
    errors = [e for i, r in enumerate(records) for e in record_errors(r, offset + i)]
    if errors:
        return errors
    rows = [[float(r[name]) for name in FIELD_NAMES] for r in records]
    return np.array(rows, dtype=np.float64).reshape(-1, len(FIELD_NAMES)), [
        r.get("customer_id") for r in records
    ]


def assert_same(records: list[Any], offset: int = 0) -> None:
    expected = per_record(records, offset)
    checked = check_records(records, offset)
    if isinstance(expected, list):
        assert checked == expected
    else:
        assert not isinstance(checked, list), checked
        assert np.array_equal(checked[0], expected[0])
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


def test_random_slices_are_judged_as_record_by_record(
    random_customers: list[dict[str, Any]],
) -> None:
    rng = random.Random(5)
    without_id = [{k: v for k, v in r.items() if k != "customer_id"} for r in random_customers]
    null_id = [{**r, "customer_id": None} for r in random_customers]
    kinds = [random_customers, without_id, null_id]
    valid = 0
    for _ in range(3000):
        records = [
            dict(rng.choice(rng.choice(kinds)))
            if rng.random() > 0.1
            else mutated(rng.choice(random_customers), rng)
            for _ in range(rng.choice([1, 2, 5, 20]))
        ]
        assert_same(records, offset=rng.choice([0, 200, 4000]))
        valid += not isinstance(check_records(records), list)
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
    ],
)
def test_edge_cases_are_judged_as_record_by_record(
    random_customers: list[dict[str, Any]], change: Any
) -> None:
    records = [dict(r) for r in random_customers[:3]]
    change(records)
    assert_same(records, offset=400)


def test_a_valid_slice_keeps_values_exactly(random_customers: list[dict[str, Any]]) -> None:
    records = [dict(r) for r in random_customers[:50]]
    records[3]["BILL_AMT2"] = 12345.678
    records[4]["PAY_AMT1"] = 10**8 - 1
    matrix, ids = check_records(records)  # type: ignore[misc]
    assert matrix.shape == (50, len(FIELD_NAMES))
    assert matrix[3, FIELD_NAMES.index("BILL_AMT2")] == 12345.678
    assert matrix[4, FIELD_NAMES.index("PAY_AMT1")] == 10**8 - 1
    assert ids == [r["customer_id"] for r in records]

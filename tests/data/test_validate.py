"""Tests of bankrisk.data.validate: every check, and that all problems are reported at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankrisk.data.load import load_dataset
from bankrisk.data.validate import validate_frame
from bankrisk.errors import DataError
from bankrisk.schema import BILL_AMOUNTS, FIELD_NAMES, FIELDS, ID_COLUMN, PAY_STATUS, TARGET


def _good(n: int = 6) -> pd.DataFrame:
    data: dict[str, list[object]] = {ID_COLUMN: list(range(1, n + 1))}
    for spec in FIELDS:
        value = 50_000 if spec.name == "LIMIT_BAL" else 30 if spec.name == "AGE" else 1
        data[spec.name] = [value] * n
    data[TARGET] = [i % 2 for i in range(n)]
    return pd.DataFrame(data)


def _message(df: pd.DataFrame, **kwargs: bool) -> str:
    with pytest.raises(DataError) as info:
        validate_frame(df, **kwargs)
    return str(info.value)


def test_good_frame_types() -> None:
    clean = validate_frame(_good())
    assert list(clean.columns) == [ID_COLUMN, *FIELD_NAMES, TARGET]
    for spec in FIELDS:
        assert str(clean[spec.name].dtype) == ("int64" if spec.integer else "float64")
    assert str(clean[TARGET].dtype) == "int64"
    assert str(clean[ID_COLUMN].dtype) == "int64"


def test_returns_copy_and_drops_extra_columns() -> None:
    df = _good()
    df["note"] = "x"
    clean = validate_frame(df)
    assert "note" not in clean.columns
    clean.loc[0, "AGE"] = 99
    assert df.loc[0, "AGE"] == 30


def test_undocumented_codes_are_valid() -> None:
    df = _good(6)
    df["EDUCATION"] = [0, 5, 6, 1, 2, 3]
    df["MARRIAGE"] = [0, 0, 1, 2, 3, 1]
    for name in PAY_STATUS:
        df[name] = [-2, 0, -1, 9, 8, 1]
    validate_frame(df)


def test_shared_csv_is_valid(shared_csv: Path) -> None:
    raw = load_dataset(shared_csv)
    clean = validate_frame(raw)
    assert len(clean) == len(raw) > 0


def test_missing_columns_are_named() -> None:
    message = _message(_good().drop(columns=["AGE", "PAY_AMT3", TARGET]))
    assert message.startswith("Data validation failed for 3 columns:")
    assert "missing required columns: AGE, PAY_AMT3, default payment next month" in message


def test_target_optional() -> None:
    clean = validate_frame(_good().drop(columns=[TARGET]), require_target=False)
    assert TARGET not in clean.columns
    clean = validate_frame(_good(), require_target=False)
    assert TARGET in clean.columns


def test_non_numeric_values() -> None:
    df = _good().astype({"BILL_AMT2": object})
    df.loc[[0, 1, 2, 3], "BILL_AMT2"] = ["abc", "n/a", "abc", "x1"]
    message = _message(df)
    assert "Data validation failed for 1 column:" in message
    assert "BILL_AMT2: 4 rows not numeric (e.g. 'abc', 'n/a', 'x1')" in message


def test_numeric_strings_are_accepted() -> None:
    df = _good().astype({"LIMIT_BAL": object})
    df["LIMIT_BAL"] = [" 1000 ", "2000", "3000.5", "4000", "5000", "6000"]
    clean = validate_frame(df)
    assert clean["LIMIT_BAL"].tolist()[:3] == [1000.0, 2000.0, 3000.5]


def test_missing_values() -> None:
    df = _good().astype({"AGE": "float64"})
    df.loc[[1, 4], "AGE"] = np.nan
    assert "AGE: 2 rows missing" in _message(df)


def test_blank_strings_count_as_missing() -> None:
    df = _good().astype({"SEX": object})
    df.loc[[0], "SEX"] = "  "
    assert "SEX: 1 row missing" in _message(df)


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("LIMIT_BAL", [0, -5, 2e8], "LIMIT_BAL: 3 rows out of range [1, 1e8]"),
        ("AGE", [17, 101], "AGE: 2 rows out of range [18, 100]"),
        ("PAY_3", [-3, 10], "PAY_3: 2 rows out of range [-2, 9]"),
        ("PAY_AMT1", [-1], "PAY_AMT1: 1 row out of range [0, 1e8]"),
        ("BILL_AMT4", [-2e8], "BILL_AMT4: 1 row out of range [-1e8, 1e8]"),
        ("SEX", [0, 3], "SEX: 2 rows out of range [1, 2]"),
        ("EDUCATION", [7], "EDUCATION: 1 row out of range [0, 6]"),
        ("MARRIAGE", [4], "MARRIAGE: 1 row out of range [0, 3]"),
    ],
)
def test_out_of_range(column: str, values: list[float], expected: str) -> None:
    df = _good().astype({column: "float64"})
    df.loc[list(range(len(values))), column] = values
    message = _message(df)
    assert expected in message
    assert message.startswith("Data validation failed for 1 column:")


def test_non_integer_in_integer_field() -> None:
    df = _good().astype({"AGE": "float64", "LIMIT_BAL": "float64"})
    df.loc[[0, 1], "AGE"] = [30.5, 41.2]
    df.loc[0, "LIMIT_BAL"] = 1000.5  # amounts may be fractional
    message = _message(df)
    assert "AGE: 2 rows not whole numbers (e.g. 30.5, 41.2)" in message
    assert "LIMIT_BAL" not in message


def test_infinities() -> None:
    df = _good().astype({"BILL_AMT1": "float64"})
    df.loc[[0, 2], "BILL_AMT1"] = [np.inf, -np.inf]
    message = _message(df)
    assert "BILL_AMT1: 2 rows infinite" in message
    assert "out of range" not in message


def test_duplicate_ids() -> None:
    df = _good(8)
    df[ID_COLUMN] = [1, 1, 2, 3, 3, 3, 4, 5]
    message = _message(df)
    assert "ID: 2 duplicated IDs in 5 rows (e.g. 1, 3)" in message


def test_target_not_binary() -> None:
    df = _good()
    df.loc[[0, 1, 2], TARGET] = [2, -1, 2]
    assert f"{TARGET}: 3 rows not 0 or 1 (e.g. 2, -1)" in _message(df)


def test_empty_frame() -> None:
    message = _message(_good().iloc[0:0])
    assert message == "Data validation failed:\n- the frame has no rows"


def test_several_problems_listed_together() -> None:
    df = _good(6).astype({"AGE": "float64", "PAY_0": object, BILL_AMOUNTS[0]: "float64"})
    df = df.drop(columns=["SEX"])
    df.loc[0, "AGE"] = 5
    df.loc[1, "PAY_0"] = "late"
    df.loc[2, BILL_AMOUNTS[0]] = np.nan
    df.loc[3, TARGET] = 7
    df[ID_COLUMN] = [1, 2, 2, 4, 5, 6]
    message = _message(df)
    lines = message.splitlines()
    assert lines[0] == "Data validation failed for 6 columns:"
    expected = [
        "- missing required columns: SEX",
        "- ID: 1 duplicated IDs in 2 rows (e.g. 2)",
        "- AGE: 1 row out of range [18, 100] (e.g. 5)",
        "- PAY_0: 1 row not numeric (e.g. 'late')",
        "- BILL_AMT1: 1 row missing",
        f"- {TARGET}: 1 row not 0 or 1 (e.g. 7)",
    ]
    assert lines[1:] == expected


def test_same_column_several_problems() -> None:
    df = _good().astype({"AGE": object})
    df["AGE"] = pd.Series([np.nan, "old", 200, 30.5, 30, 30], dtype=object)
    message = _message(df)
    assert message.startswith("Data validation failed for 1 column:")
    for part in (
        "AGE: 1 row not numeric",
        "AGE: 1 row missing",
        "AGE: 1 row out of range",
        "AGE: 1 row not whole numbers",
    ):
        assert part in message

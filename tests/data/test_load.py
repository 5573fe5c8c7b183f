"""Tests of bankrisk.data.load: formats, header layouts, column names and read errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from bankrisk.data.load import file_fingerprint, load_dataset, normalise_columns
from bankrisk.errors import DataError
from bankrisk.schema import FIELD_NAMES, ID_COLUMN, TARGET

EXPECTED_COLUMNS = [ID_COLUMN, *FIELD_NAMES, TARGET]


@pytest.fixture(scope="module")
def csv_frame(shared_csv: Path) -> pd.DataFrame:
    return load_dataset(shared_csv)


@pytest.fixture(scope="module")
def xls_frame(shared_xls: Path) -> pd.DataFrame:
    return load_dataset(shared_xls)


def _small_frame() -> pd.DataFrame:
    rows = {name: [1, 2, 3] for name in FIELD_NAMES}
    return pd.DataFrame({ID_COLUMN: [10, 11, 12], **rows, TARGET: [0, 1, 0]})


def test_csv_loads_with_schema_columns(csv_frame: pd.DataFrame, shared_csv: Path) -> None:
    data_lines = len(shared_csv.read_text().splitlines()) - 1  # 24,000 in ../shared/data
    assert csv_frame.shape == (data_lines, 25)
    assert list(csv_frame.columns) == EXPECTED_COLUMNS
    assert all(pd.api.types.is_integer_dtype(t) for t in csv_frame.dtypes)


def test_xls_uci_layout_matches_csv(xls_frame: pd.DataFrame, csv_frame: pd.DataFrame) -> None:
    # The first 10,000 rows of the official file here (all 30,000 on GitHub Actions).
    assert xls_frame.shape[1] == 25 and 1_000 <= len(xls_frame) <= 30_000
    assert list(xls_frame.columns) == list(csv_frame.columns)
    assert all(pd.api.types.is_numeric_dtype(t) for t in xls_frame.dtypes)
    xls = xls_frame.set_index(ID_COLUMN)
    csv = csv_frame.set_index(ID_COLUMN)
    common = xls.index.intersection(csv.index)
    assert len(common) > 0
    pd.testing.assert_frame_equal(
        xls.loc[common].astype("int64"), csv.loc[common].astype("int64"), check_dtype=False
    )


def test_csv_variant_names_are_normalised(tmp_path: Path) -> None:
    frame = _small_frame().rename(columns={"PAY_0": "PAY_1", TARGET: "default.payment.next.month"})
    frame = frame.rename(columns={"AGE": " AGE "})
    frame["extra"] = 5
    path = tmp_path / "variant.csv"
    frame.to_csv(path, index=False)
    loaded = load_dataset(path)
    assert list(loaded.columns) == EXPECTED_COLUMNS
    assert loaded["PAY_0"].tolist() == [1, 2, 3]
    assert loaded[TARGET].tolist() == [0, 1, 0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("default_payment_next_month", TARGET),
        ("default.payment.next.month", TARGET),
        ("Y", TARGET),
        (" default payment next month ", TARGET),
        ("limit_bal", "limit_bal"),  # nothing else is upper-cased
    ],
)
def test_normalise_single_names(raw: str, expected: str) -> None:
    assert normalise_columns([raw]) == [expected]


def test_pay1_kept_when_pay0_present() -> None:
    assert normalise_columns(["PAY_0", "PAY_1"]) == ["PAY_0", "PAY_1"]


def test_clashing_target_names_rejected() -> None:
    with pytest.raises(DataError, match="more than once"):
        normalise_columns(["default.payment.next.month", "default_payment_next_month"])


def test_csv_in_uci_two_header_layout(tmp_path: Path) -> None:
    frame = _small_frame()
    codes = ["", *[f"X{i}" for i in range(1, 24)], "Y"]
    path = tmp_path / "uci.csv"
    path.write_text(",".join(codes) + "\n" + frame.to_csv(index=False), encoding="utf-8")
    loaded = load_dataset(path)
    assert list(loaded.columns) == EXPECTED_COLUMNS
    assert loaded["LIMIT_BAL"].tolist() == [1, 2, 3]


def test_parquet_round_trip(tmp_path: Path) -> None:
    frame = _small_frame()
    frame["LIMIT_BAL"] = frame["LIMIT_BAL"].astype("float64") * 1000
    for name in ("small.parquet", "small.pq"):
        path = tmp_path / name
        frame.to_parquet(path, index=False)
        pd.testing.assert_frame_equal(load_dataset(path), frame)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError, match="not found") as info:
        load_dataset(path)
    assert str(path) in str(info.value)


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(DataError, match=r"unsupported file type '\.json'") as info:
        load_dataset(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("suffix", [".csv", ".xls", ".parquet"])
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_dataset(path)


def test_header_only_csv(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(",".join(EXPECTED_COLUMNS) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="no data rows"):
        load_dataset(path)


@pytest.mark.parametrize("suffix", [".xls", ".parquet", ".pq"])
def test_corrupt_binary_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"corrupt{suffix}"
    path.write_bytes(b"this is not a real file\x00\x01\x02" * 20)
    with pytest.raises(DataError) as info:
        load_dataset(path)
    message = str(info.value)
    assert message.startswith(f"Cannot read {path}: not a valid {suffix} file")
    assert "\n" not in message


def test_truncated_xls(tmp_path: Path, shared_xls: Path) -> None:
    path = tmp_path / "truncated.xls"
    path.write_bytes(shared_xls.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"not a valid \.xls file"):
        load_dataset(path)


def test_xlsx_without_openpyxl(tmp_path: Path) -> None:
    if importlib.util.find_spec("openpyxl") is not None:
        pytest.skip("openpyxl is installed")
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match="openpyxl"):
        load_dataset(path)


def test_directory_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dir.csv"
    path.mkdir()
    with pytest.raises(DataError, match="not a regular file"):
        load_dataset(path)


def test_file_fingerprint(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    assert file_fingerprint(path) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    with pytest.raises(DataError, match="Cannot read"):
        file_fingerprint(tmp_path / "missing.bin")

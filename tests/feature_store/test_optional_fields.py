"""Customers materialized without the protected attributes (absent columns, or empty cells)
are stored without them and scored by id as `/v1/predict` scores them without those fields;
values given are still validated."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bankrisk.config import Settings
from bankrisk.errors import DataError
from bankrisk.feature_store.online import OnlineFeatures
from bankrisk.schema import FIELD_NAMES
from helpers.api import Api
from helpers.feature_store import head_csv, materialized

ROWS = 40


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory, shared_csv: Path) -> tuple[Path, pd.DataFrame]:
    """A repository of customers without SEX and MARRIAGE, AGE empty for every third one."""
    folder = tmp_path_factory.mktemp("optional")
    frame = pd.read_csv(head_csv(shared_csv, ROWS, folder / "head.csv"))
    frame = frame.drop(columns=["SEX", "MARRIAGE"]).astype({"AGE": "Int64"})
    frame.loc[::3, "AGE"] = pd.NA
    frame.to_csv(folder / "sparse.csv", index=False)
    repo = materialized(folder / "repo", folder / "sparse.csv").snapshot.parents[2]
    return repo, frame.set_index("ID")


def test_stored_without_them(sparse: tuple[Path, pd.DataFrame]) -> None:
    repo, frame = sparse
    features = OnlineFeatures(repo)
    try:
        for customer_id, row in frame.iterrows():
            found = features.read(str(customer_id))
            assert found is not None and found.values is not None
            assert found.values["SEX"] is None and found.values["MARRIAGE"] is None
            expected_age = None if pd.isna(row["AGE"]) else float(row["AGE"])
            assert found.values["AGE"] == expected_age
            assert found.values["LIMIT_BAL"] == float(row["LIMIT_BAL"])
    finally:
        features.close()


def test_scored_by_id_as_predict_without_them(
    make_api: Callable[..., Api], sparse: tuple[Path, pd.DataFrame]
) -> None:
    repo, frame = sparse
    api = make_api(Settings(feature_repo=repo))
    for customer_id, row in frame.iterrows():
        by_id = api.client.post(f"/v1/predict/customer/{customer_id}")
        fields: dict[str, Any] = {
            name: float(row[name])
            for name in FIELD_NAMES
            if name in row.index and not pd.isna(row[name])
        }
        direct = api.client.post("/v1/predict", json={"customer_id": str(customer_id), **fields})
        assert by_id.status_code == direct.status_code == 200, by_id.text
        assert {**by_id.json(), "request_id": ""} == {**direct.json(), "request_id": ""}
        assert not {"SEX", "MARRIAGE"} & set(fields)  # asked without them


def test_values_given_are_still_validated(tmp_path: Path, shared_csv: Path) -> None:
    frame = pd.read_csv(head_csv(shared_csv, 10, tmp_path / "head.csv")).drop(columns=["SEX"])
    frame.loc[4, "MARRIAGE"] = 9
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError) as error:
        materialized(tmp_path / "repo", tmp_path / "bad.csv")
    assert "MARRIAGE" in str(error.value) and "SEX" not in str(error.value)

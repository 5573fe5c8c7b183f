"""`read_whole_rows`: Feast's Bigtable read asked for no column filter, and the same answer
as the filter's (the asked-for features only; a missing row stays missing). The 24,000
customers read back exactly through it: tests/feature_store/test_online_stores.py."""

from __future__ import annotations

from typing import Any

from bankrisk.feature_store.bigtable_rows import _picking


def test_the_row_is_read_whole_and_only_the_asked_for_features_kept() -> None:
    asked_of_feast: list[Any] = []

    def feast_read(config: Any, table: Any, keys: list[Any], requested: Any = None) -> Any:
        asked_of_feast.append(requested)
        return [("t1", {"LIMIT_BAL": 1.0, "PAY_0": 2.0, "retired": 3.0}), (None, None)]

    read = _picking(feast_read)

    assert read("config", "view", ["k1", "k2"], ["LIMIT_BAL", "PAY_0"]) == [
        ("t1", {"LIMIT_BAL": 1.0, "PAY_0": 2.0}),
        (None, None),
    ]
    assert read("config", "view", ["k1", "k2"])[0][1] == {
        "LIMIT_BAL": 1.0,
        "PAY_0": 2.0,
        "retired": 3.0,
    }
    assert asked_of_feast == [None, None]

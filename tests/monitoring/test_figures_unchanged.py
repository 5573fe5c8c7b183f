"""Monitoring rebuilt for scale (issue 20) gives the figures it gave before, to 1e-9, on the
fixed log of `helpers/monitoring_figures.py` (recorded in tests/golden/monitoring.json on the
code before the change)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers.monitoring_figures import RECORDED, build_log, differences, figures


@pytest.fixture(scope="module")
def now(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store, model_dir = build_log(tmp_path_factory.mktemp("figures"))
    try:
        return figures(store, model_dir)
    finally:
        store.close()


@pytest.mark.parametrize("name", ["drift", "drift_february", "performance"])
def test_figures_as_recorded(now: dict[str, Any], name: str) -> None:
    recorded = json.loads(Path(RECORDED).read_text())[name]
    assert differences(recorded, now[name], new_keys=True) == []


def test_the_comparison_sees_a_change() -> None:
    assert differences({"a": [1.0, "x"]}, {"a": [1.0 + 1e-6, "x"]}) != []
    assert differences({"n": 10_000_000_000}, {"n": 10_000_000_001}) != []  # counts: exact
    assert differences({"a": {"b": 2}}, {"a": {"b": 2}, "c": 1}, new_keys=True) == []

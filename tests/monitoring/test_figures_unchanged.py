"""Monitoring rebuilt for scale (issue 20) gives the figures it gave before, to 1e-9, on the
fixed log of `helpers/monitoring_figures.py` (recorded in tests/golden/monitoring.json on the
code before the change)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from helpers.monitoring_figures import RECORDED, build_log, figures


def differences(recorded: Any, now: Any, path: str = "") -> list[str]:
    """Where `now` differs from `recorded` (numbers to 1e-9 of their size; keys added
    since the recording are allowed)."""
    if isinstance(recorded, dict):
        if not isinstance(now, dict):
            return [f"{path}: {now!r} is not an object"]
        return [d for k, v in recorded.items() for d in differences(v, now.get(k), f"{path}.{k}")]
    if isinstance(recorded, list):
        if not isinstance(now, list) or len(now) != len(recorded):
            return [f"{path}: {now!r} is not a list of {len(recorded)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(recorded, now, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    if isinstance(recorded, float) and isinstance(now, int | float) and not isinstance(now, bool):
        close = math.isclose(recorded, now, rel_tol=1e-9, abs_tol=1e-12)
        return [] if close else [f"{path}: {now!r} != {recorded!r}"]
    return [] if recorded == now else [f"{path}: {now!r} != {recorded!r}"]


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
    assert differences(recorded, now[name]) == []


def test_the_comparison_sees_a_change() -> None:
    assert differences({"a": [1.0, "x"]}, {"a": [1.0 + 1e-6, "x"]}) != []
    assert differences({"a": {"b": 2}}, {"a": {"b": 2}, "c": 1}) == []

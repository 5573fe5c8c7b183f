"""Evaluation plots are written as PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bankrisk.evaluation.plots import save_evaluation_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_three_pngs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pd = rng.uniform(0, 1, 300)
    y = (rng.uniform(0, 1, 300) < pd).astype(int)
    out = tmp_path / "reports" / "run"
    paths = save_evaluation_plots(y, pd, out, title="test model")
    assert [p.name for p in paths] == [
        "roc_curve.png",
        "calibration_curve.png",
        "score_distribution.png",
    ]
    for path in paths:
        assert path.parent == out
        data = path.read_bytes()
        assert len(data) > 1000
        assert data[:8] == PNG_MAGIC


def test_one_class_still_plots(tmp_path: Path) -> None:
    paths = save_evaluation_plots(np.zeros(20), np.linspace(0, 1, 20), tmp_path, title="x")
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in paths)


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same length"):
        save_evaluation_plots(np.zeros(3), np.zeros(2), tmp_path, title="x")

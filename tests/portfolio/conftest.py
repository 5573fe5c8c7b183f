"""Fixtures of the portfolio-scoring tests: small input files (the bundle is the session's
small real one, `bundle_dir` in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.portfolio import portfolio_frame


@pytest.fixture(scope="session")
def portfolio_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("portfolio") / "portfolio.csv"
    portfolio_frame(2000).to_csv(path, index=False)
    return path

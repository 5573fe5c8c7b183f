"""Delivery tests: static checks (test_static.py), pip-audit (test_audit.py) and the
build-and-serve container test (test_container.py, marker `container`)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Registered here too, so that --strict-markers passes whether or not pyproject lists it.
    config.addinivalue_line(
        "markers", "container: builds and runs the Docker image on a private engine (root)"
    )

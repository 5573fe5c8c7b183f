"""Fixtures of the monitoring tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BANKRISK_* variable of the machine reaches the commands under test."""
    for name in list(os.environ):
        if name.startswith("BANKRISK_"):
            monkeypatch.delenv(name)

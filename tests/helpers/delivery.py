"""The repository's root, and the locked tools the delivery tests run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def uv() -> str:
    for candidate in (
        os.environ.get("UV"),
        str(REPO / ".tools" / "bin" / "uv"),
        shutil.which("uv"),
    ):
        if candidate and Path(candidate).exists():
            return str(Path(candidate).resolve())
    pytest.fail("uv not found (.tools/bin/uv, $UV or PATH): run `make install`")


def requirement_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]

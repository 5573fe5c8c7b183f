"""What the session's one training on the shared data leaves (`trained` in tests/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bankrisk.config import Settings
    from bankrisk.training.train import TrainReport


@dataclass(frozen=True)
class Trained:
    """One `bankrisk train` run on the shared CSV, everything under `workdir`."""

    settings: Settings
    report: TrainReport
    workdir: Path

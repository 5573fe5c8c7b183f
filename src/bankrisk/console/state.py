"""What every console page reads: one `ConsoleState`, built by `bankrisk console` at start and
kept on the app (`app.state.console`); pages take it with `StateDep`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.core.scorer import Scorer
from bankrisk.prediction_log.store import PredictionStore


@dataclass(frozen=True)
class ConsoleState:
    """The console's settings (with the console key in force: the configured one or the one
    made at start), the champion's scorer and bundle, the prediction log (None: `off`), a
    folder for pages that are costly to compute, and the folder the bundle was loaded from
    (its model card; what the code that takes a bundle's folder is given: `score_file`,
    monitoring)."""

    settings: Settings
    scorer: Scorer
    store: PredictionStore | None
    bundle: ModelBundle
    cache_dir: Path
    model_dir: Path

    @property
    def portfolio_dir(self) -> Path:
        """Where the Portfolio page keeps scores (the monitoring child warms it too)."""
        return self.cache_dir / "portfolio"


def console_state(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


StateDep = Annotated[ConsoleState, Depends(console_state)]

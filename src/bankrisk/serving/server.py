"""`bankrisk serve`: load and warm the bundle, then run Uvicorn (one worker per process).

The bundle is loaded before the server starts: a missing or corrupt bundle is one clear log
line and exit code 2, never a half-started server.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np
import uvicorn

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.errors import BundleError
from bankrisk.schema import FIELD_NAMES
from bankrisk.serving.app import create_app
from bankrisk.serving.observability import JsonLogger
from bankrisk.serving.schemas import EXAMPLE_CUSTOMER
from bankrisk.serving.scorer import Scorer


def load_scorer(model_dir: Path) -> Scorer:
    scorer = Scorer(ModelBundle.load(model_dir))
    scorer.warm_up(np.array([[float(EXAMPLE_CUSTOMER[n]) for n in FIELD_NAMES]]))
    return scorer


def serve(settings: Settings, model_dir: Path, host: str, port: int) -> int:
    """Run until stopped; returns the process exit code."""
    logger = JsonLogger()
    start = time.perf_counter()
    try:
        scorer = load_scorer(model_dir)
    except BundleError as exc:
        logger.emit("CRITICAL", f"cannot serve: {exc}", model_dir=str(model_dir))
        return 2
    seconds = time.perf_counter() - start
    logger.emit(
        "INFO",
        f"loaded {scorer.bundle.name} v{scorer.bundle.version} "
        f"({scorer.bundle.metadata.get('model_family')}) in {seconds * 1000:.0f} ms",
        model_dir=str(model_dir),
        host=host,
        port=port,
    )
    app = create_app(settings, scorer, logger)
    # Everything loaded so far lives as long as the process: keep it out of the cyclic
    # garbage collector's full passes, which otherwise pause requests for milliseconds.
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=1,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return 0

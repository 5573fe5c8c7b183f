"""Where one `/v1/predict` spends its CPU inside the service process.

Drives `app.state.entry` (what `bankrisk serve` runs: FastPath, the request-log middleware,
the endpoint) straight through ASGI, without sockets, log on (a SQLite prediction log; its
writer is a child process, not counted here) and off, and the floor's app
(benchmarks/floor_app.py) the same way; then times the parts of scoring one customer called
in sequence, as a request calls them; and, log off (steadier: no writer process beside it),
what a request saves with one part of its plumbing switched off (`PLUMBING`: its methods
made no-ops while the app is built and driven), which is what that part costs as a request
runs it. Prints microseconds of process CPU.

    .venv/bin/python benchmarks/request_cost.py --model-dir models/champion
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest.mock import patch

import orjson

from bankrisk.config import Settings
from bankrisk.core.validation import validate_one
from bankrisk.features.engineering import build_features_row
from bankrisk.features.reasons.selection import select_reasons_row
from bankrisk.prediction_log.opening import open_log
from bankrisk.serving.app import create_app
from bankrisk.serving.drift_gauge import InputDrift
from bankrisk.serving.gc_tuning import tune_gc
from bankrisk.serving.observability import JsonLogger, Metrics
from bankrisk.serving.reload import load_scorer
from bankrisk.serving.schemas import EXAMPLE_CUSTOMER

_BODY = orjson.dumps(EXAMPLE_CUSTOMER)
# Parts of a request's plumbing, each switched off in turn (`without_us`).
PLUMBING: dict[str, list[tuple[type, str]]] = {
    "JSON log line": [(JsonLogger, "emit")],
    "metrics": [(Metrics, "record_request"), (Metrics, "count_scored")],
    "drift gauge": [(InputDrift, "count")],
}
_SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "POST",
    "scheme": "http",
    "path": "/v1/predict",
    "raw_path": b"/v1/predict",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(_BODY))],
    "client": ("127.0.0.1", 1),
    "server": ("127.0.0.1", 2),
}


async def _request(entry: Any, path: str = "/v1/predict") -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": _BODY, "more_body": False}

    started: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.append(message["status"])

    await entry(dict(_SCOPE, path=path, raw_path=path.encode(), state={}), receive, send)
    if started != [200]:
        raise SystemExit(f"the request was answered {started}")


def _cpu_us(entry: Any, path: str, requests: int) -> float:
    """Process CPU per request through `entry`, after a warm-up."""

    async def run() -> float:
        for _ in range(500):
            await _request(entry, path)
        start = time.process_time()
        for _ in range(requests):
            await _request(entry, path)
        return (time.process_time() - start) / requests * 1e6

    return asyncio.run(run())


def floor_cpu_us(requests: int) -> float:
    """The floor's app (benchmarks/floor_app.py) the same way."""
    from floor_app import app

    return _cpu_us(app, "/predict", requests)


def request_cpu_us(model_dir: Path, log_url: str, requests: int) -> float:
    """Process CPU per request through the service's whole ASGI entry."""
    settings = Settings(prediction_log=log_url)
    store = open_log(settings)
    log_lines = open(os.devnull, "w")  # noqa: SIM115 - written to as the server writes stdout
    app = create_app(
        settings, load_scorer(model_dir), JsonLogger(log_lines), prediction_store=store
    )
    tune_gc(settings)
    try:
        return _cpu_us(app.state.entry, "/v1/predict", requests)
    finally:
        if app.state.service.log_writer is not None:
            app.state.service.log_writer.close(5.0)
        log_lines.close()


def _nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


def without_us(model_dir: Path, log_url: str, requests: int, part: str) -> float:
    """`request_cpu_us` with `part`'s methods doing nothing (replaced before the app is
    built: the steps after scoring hold them from then on)."""
    with ExitStack() as stack:
        for owner, method in PLUMBING[part]:
            stack.enter_context(patch.object(owner, method, _nothing))
        return request_cpu_us(model_dir, log_url, requests)


def scoring_parts_us(model_dir: Path, requests: int) -> dict[str, float]:
    """Each part of scoring one customer, timed as they run one after the other."""
    bundle = load_scorer(model_dir).bundle
    values, _ = validate_one(dict(EXAMPLE_CUSTOMER))
    spent = {"validation": 0.0, "features": 0.0, "model call": 0.0, "reasons": 0.0}
    clock: Callable[[], float] = time.perf_counter
    for _ in range(requests):
        t0 = clock()
        validate_one(orjson.loads(_BODY))
        t1 = clock()
        features = build_features_row(values, bundle.feature_set)
        t2 = clock()
        _, by_group = bundle.predictor.explain_one(features)
        t3 = clock()
        select_reasons_row(values, features, by_group, bundle.reason_policy)
        t4 = clock()
        for part, seconds in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            spent[part] += seconds
    return {part: seconds / requests * 1e6 for part, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models/champion"))
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="request-cost-")
    for round_ in range(args.rounds):
        on = request_cpu_us(args.model_dir, f"sqlite:///{folder}/log{round_}.db", args.requests)
        off = request_cpu_us(args.model_dir, "off", args.requests)
        floor = floor_cpu_us(args.requests)
        parts = scoring_parts_us(args.model_dir, args.requests)
        shown = ", ".join(f"{part} {us:.1f}" for part, us in parts.items())
        saved = ", ".join(
            f"{part} {off - without_us(args.model_dir, 'off', args.requests, part):.1f}"
            for part in PLUMBING
        )
        print(
            f"round {round_ + 1}: request (log on) {on:.1f} us, (log off) {off:.1f} us, "
            f"the floor's app {floor:.1f} us; {shown}; saved without the {saved}"
        )


if __name__ == "__main__":
    main()

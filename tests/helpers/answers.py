"""The answers of every scoring entry point on the 24,000 shared rows, reduced to digests, so
that a change of shape (issue 19) can be shown not to change a byte of what users get.

`answers(bundle_dir, shared_csv, workdir)` scores every shared row through `/v1/predict`,
`/v1/predict/batch` (batches of 1,000), `POST /v1/predict/customer/{id}` (the rows
materialized into a fresh Feast repository) and `bankrisk score` (CSV output), all in-process
on the app `bankrisk serve` runs (many requests in flight: `post_all`), and returns a sha256
of each entry point's answers in order, with request ids blanked (they are random).
`tests/golden/answers.json` holds the digests recorded on the code before the change;
re-record them only for an intended change of answers:

    .venv/bin/python tests/helpers/answers.py   # rewrites tests/golden/answers.json
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from bankrisk.schema import FIELD_NAMES, FIELDS_BY_NAME

TESTS = Path(__file__).resolve().parents[1]
RECORDED = TESTS / "golden" / "answers.json"
BATCH = 1_000
# Requests in flight at once in-process (`post_all`): four of the feature store's reads of
# up to 64 ids.
IN_FLIGHT = 256
_REQUEST_ID = re.compile(rb'"request_id":"[^"]*"')


def customers_of(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    for customer_id, row in zip(frame["ID"], frame[list(FIELD_NAMES)].to_numpy(), strict=True):
        record: dict[str, Any] = {
            name: int(value) if FIELDS_BY_NAME[name].integer else float(value)
            for name, value in zip(FIELD_NAMES, row, strict=True)
        }
        record["customer_id"] = str(customer_id)
        yield record


class _Digest:
    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.count = 0

    def add(self, status: int, body: bytes) -> None:
        self.sha.update(b"%d " % status + _REQUEST_ID.sub(b'"request_id":""', body) + b"\n")
        self.count += 1

    def result(self) -> dict[str, Any]:
        return {"answers": self.count, "sha256": self.sha.hexdigest()}


async def asgi_post(app: Any, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One POST straight through the ASGI app (an HTTP client in-process costs ~1 ms more a
    request than scoring does: 24,000 x 3 of them would take minutes)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def post_all(
    app: Any, requests: list[tuple[str, bytes]], in_flight: int = IN_FLIGHT
) -> list[tuple[int, bytes]]:
    """Each (path, body) POSTed, `in_flight` at a time, the answers in the requests' order: as
    under load, the service scores singles and reads the feature store in batches (which must
    not change an answer), and the whole takes a fraction of one request at a time."""
    answers: list[tuple[int, bytes]] = []
    for begin in range(0, len(requests), in_flight):
        chunk = requests[begin : begin + in_flight]
        answers += await asyncio.gather(*(asgi_post(app, path, body) for path, body in chunk))
    return answers


def asgi_app(bundle_dir: Path, feature_repo: Path | None) -> Any:
    from bankrisk.bundle.model_bundle import ModelBundle
    from bankrisk.config import Settings
    from bankrisk.core.scorer import Scorer
    from bankrisk.serving.app import create_app
    from bankrisk.serving.observability import JsonLogger

    settings = Settings(feature_repo=feature_repo)
    scorer = Scorer(ModelBundle.load(bundle_dir))
    return create_app(settings, scorer, logger=JsonLogger(io.StringIO()))


def asgi_entry(app: Any) -> Any:
    return getattr(app.state, "entry", app)


def _materialized(shared_csv: Path, workdir: Path) -> Path:
    import shutil

    from bankrisk.feature_store.materialize import materialize

    repo = workdir / "feature-repo"
    repo.mkdir(parents=True, exist_ok=True)
    shutil.copy(TESTS.parent / "feature_repo" / "feature_store.yaml", repo)
    materialize(repo, shared_csv)
    return repo


async def _served_answers(app: Any, customers: list[dict[str, Any]]) -> dict[str, Any]:
    entry = asgi_entry(app)
    single, batch, by_id = _Digest(), _Digest(), _Digest()
    for answer in await post_all(entry, [("/v1/predict", orjson.dumps(c)) for c in customers]):
        single.add(*answer)
    for begin in range(0, len(customers), BATCH):
        body = orjson.dumps({"records": customers[begin : begin + BATCH]})
        batch.add(*await asgi_post(entry, "/v1/predict/batch", body))
    await features_ready(app)
    by_ids = [(f"/v1/predict/customer/{c['customer_id']}", b"") for c in customers]
    for answer in await post_all(entry, by_ids):
        by_id.add(*answer)
    return {
        "/v1/predict": single.result(),
        "/v1/predict/batch": batch.result(),
        "/v1/predict/customer/{id}": by_id.result(),
    }


async def features_ready(app: Any) -> None:
    """Wait (up to 60 s) until the app's feature store has opened (on its reader thread)."""
    for _ in range(600):
        status, _body = await asgi_post(asgi_entry(app), "/v1/predict/customer/1")
        if status != 503:
            return
        await asyncio.sleep(0.1)


def answers(bundle_dir: Path, shared_csv: Path, workdir: Path) -> dict[str, Any]:
    """Digests of each entry point's answers on every shared row (see the module docstring)."""
    import prometheus_client  # noqa: F401  (before Feast: see feature_store/repo.py)

    from bankrisk.portfolio.local import score_file

    frame = pd.read_csv(shared_csv)
    customers = list(customers_of(frame))
    repo = _materialized(shared_csv, workdir)
    out: dict[str, Any] = {
        "bundle": json.loads((bundle_dir / "manifest.json").read_text())["files"],
    }
    out.update(asyncio.run(_served_answers(asgi_app(bundle_dir, repo), customers)))
    scored = workdir / "scored.csv"
    score_file(bundle_dir, shared_csv, scored)
    out["bankrisk score"] = {
        "rows": int(np.loadtxt(scored, delimiter=",", skiprows=1, usecols=0, dtype=str).size),
        "sha256": hashlib.sha256(scored.read_bytes()).hexdigest(),
    }
    return out


def main() -> None:
    sys.path.insert(0, str(TESTS))
    from helpers.factories import make_bundle

    shared_csv = TESTS.parents[1] / "shared" / "data" / "default_of_credit_card_clients.csv"
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = Path(tmp) / "bundle"
        make_bundle().save(bundle_dir)
        recorded = answers(bundle_dir, shared_csv, Path(tmp))
    RECORDED.write_text(json.dumps(recorded, indent=2) + "\n")
    print(json.dumps(recorded, indent=2))


if __name__ == "__main__":
    main()

"""Online reads: ids asked for together go to the store in batches, and each caller gets its
own customer's features (or None, or its own error), whatever else is in the batch; a failure
on the store's thread does not stop it; gRPC's streaming reads (Bigtable's) run on the
reading thread in the service."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bankrisk.feature_store.online import (
    GRPC_STREAMS_ON_CALLER,
    CustomerFeatures,
    OnlineFeatures,
)
from bankrisk.schema import FIELD_NAMES
from helpers.feature_store import head_csv, materialized


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, shared_csv: Path) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("online")
    data = head_csv(shared_csv, 100, folder / "head.csv")
    repo = materialized(folder / "repo", data).snapshot.parents[2]
    return repo, pd.read_csv(data).set_index("ID")


def test_concurrent_reads_are_batched_and_each_gets_its_own(
    small: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, rows = small
    features = OnlineFeatures(repo)
    calls: list[list[str]] = []
    read_many = features.read_many

    def counted(ids: list[str]) -> list[object]:
        calls.append(ids)
        return read_many(ids)  # type: ignore[return-value]

    monkeypatch.setattr(features, "read_many", counted)
    ids = [str(i) for i in range(1, 81)] + ["missing"] + [str(i) for i in range(81, 101)]

    async def all_at_once() -> list[CustomerFeatures | None]:
        return list(await asyncio.gather(*(features.fetch(i) for i in ids)))

    found = asyncio.run(all_at_once())

    assert sorted(i for call in calls for i in call) == sorted(ids)
    assert 2 <= len(calls) < len(ids)  # at most 64 a call, never one by one
    for customer_id, result in zip(ids, found, strict=True):
        if customer_id == "missing":
            assert result is None
            continue
        assert result is not None and result.values is not None
        expected = rows.loc[int(customer_id), list(FIELD_NAMES)].astype(float).to_dict()
        assert result.values == expected, customer_id
    features.close()


def test_reads_go_on_after_a_job_on_the_stores_thread_fails(
    small: tuple[Path, pd.DataFrame], caplog: pytest.LogCaptureFixture
) -> None:
    """The store's one thread opens the store, then serves the reads: a failure in what it
    runs (here the callback after opening) is logged, and the next reads are still served."""
    repo, rows = small
    features = OnlineFeatures(repo)

    def broken() -> None:
        raise RuntimeError("the callback failed")

    features.start(lambda severity, message: None, opened=broken)

    found = asyncio.run(features.fetch("7"))
    features.close()

    assert found is not None and found.values is not None
    assert found.values == rows.loc[7, list(FIELD_NAMES)].astype(float).to_dict()
    assert "a job on the store's thread failed" in caplog.text
    assert "RuntimeError: the callback failed" in caplog.text


def test_a_read_left_in_flight_by_a_closed_event_loop_does_not_stop_the_next_loops(
    small: tuple[Path, pd.DataFrame],
) -> None:
    """A loop that ends while its read is on the store's thread (its request cancelled) leaves
    the reader usable by the next loop (a test's `asyncio.run` after another's)."""
    repo, rows = small
    features = OnlineFeatures(repo)

    async def abandon() -> None:
        left = asyncio.ensure_future(features.fetch("3"))
        await asyncio.sleep(0)  # the read is sent; the loop ends before its answer
        assert not left.done()

    async def again() -> CustomerFeatures | None:
        return await asyncio.wait_for(features.fetch("4"), 30)

    asyncio.run(abandon())
    found = asyncio.run(again())
    features.close()

    assert found is not None and found.values is not None
    assert found.values == rows.loc[4, list(FIELD_NAMES)].astype(float).to_dict()


def test_grpc_streams_run_on_the_calling_thread_once_the_service_asks() -> None:
    """`stream_on_the_calling_thread` (what `bankrisk serve` calls with a feature repository)
    sets an environment variable that gRPC reads at import: checked against the installed
    grpc, in a fresh process, so that an upgrade that drops it fails here."""
    code = (
        "from bankrisk.feature_store.online import stream_on_the_calling_thread\n"
        "stream_on_the_calling_thread()\n"
        "import grpc\n"
        "print(type(grpc.insecure_channel('127.0.0.1:9').unary_stream('/m')).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != GRPC_STREAMS_ON_CALLER}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "_SingleThreadedUnaryStreamMultiCallable", done.stderr

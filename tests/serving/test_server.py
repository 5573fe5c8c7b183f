"""`bankrisk serve`'s in-process set-up (the process itself: test_server_process.py)."""

from __future__ import annotations

import gc
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bankrisk.config import Settings
from bankrisk.serving.gc_tuning import tune_gc
from bankrisk.serving.observability import JsonLogger
from bankrisk.serving.routes.customer import open_features
from helpers.feature_store import head_csv, materialized


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()


@pytest.mark.usefixtures("restored_gc")
def test_the_collector_is_tuned_for_serving() -> None:
    loaded = [[0]]  # loaded before serving: frozen, never scanned again
    _, older, oldest = gc.get_threshold()
    assert any(o is loaded for o in gc.get_objects())

    tune_gc(Settings(gc_young_threshold=12_345))

    assert gc.get_threshold() == (12_345, older, oldest)
    assert not any(o is loaded for o in gc.get_objects())  # in the permanent generation


@pytest.mark.usefixtures("restored_gc")
def test_what_the_feature_store_loads_is_frozen_once_it_has_opened(
    tmp_path: Path, shared_csv: Path
) -> None:
    """Feast is imported on the store's reader thread after the start, so after `tune_gc`:
    what is loaded by then is frozen too."""
    materialized(tmp_path / "repo", head_csv(shared_csv, 20, tmp_path / "head.csv"))
    loaded = [[0]]  # loaded before the store opens
    lines = io.StringIO()
    features = open_features(Settings(feature_repo=tmp_path / "repo"), JsonLogger(lines))
    assert features is not None
    deadline = time.monotonic() + 120
    while "opened in" not in lines.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    features.close()

    assert "opened in" in lines.getvalue(), lines.getvalue()
    assert not any(o is loaded for o in gc.get_objects())  # in the permanent generation


def test_a_threshold_too_small_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="gc_young_threshold"):
        Settings(gc_young_threshold=10)

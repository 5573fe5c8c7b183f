"""`bankrisk serve`'s in-process set-up (the process itself: test_server_process.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bankrisk.config import Settings
from bankrisk.serving.server import tune_gc


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


def test_a_threshold_too_small_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="gc_young_threshold"):
        Settings(gc_young_threshold=10)

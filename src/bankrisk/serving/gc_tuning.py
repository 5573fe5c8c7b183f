"""The cyclic garbage collector, set up for serving (figures in docs/performance.md)."""

from __future__ import annotations

import gc

from bankrisk.config import Settings


def freeze_loaded() -> None:
    """Move everything loaded so far out of the collector's full passes. What is loaded
    (the model, the libraries' modules) lives as long as the process; scanning it pauses
    requests for milliseconds."""
    gc.collect()
    gc.freeze()


def tune_gc(settings: Settings) -> None:
    """Set the collector up for serving, once everything is loaded: loaded objects frozen
    (`freeze_loaded`, again when the feature store has opened, since it loads Feast after
    the start). A request's objects are freed by reference counting as it ends, so young
    collections every 700 allocations (Python's default; a 1,000-row batch makes about ten
    thousand) mostly find nothing: every `gc_young_threshold`."""
    freeze_loaded()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(settings.gc_young_threshold, older, oldest)

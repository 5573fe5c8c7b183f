"""How many threads training may use: the one place that decides LightGBM's `n_jobs`."""

from __future__ import annotations

import os

# Threads LightGBM trains with; 0 means one per CPU this process may run on. The default is 1:
# OpenMP threads spin-wait, so on 2 shared cores one thread is faster, and LightGBM's results
# can change with the thread count (`deterministic` holds them for a fixed count only), so one
# thread gives the same model on every machine. Meant to become a setting (proposed:
# `Settings.training_threads`, BANKRISK_TRAINING_THREADS, an int >= 0, default 1); until then
# this constant is the value `make_candidates` passes.
TRAINING_THREADS = 1


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def thread_count(requested: int = TRAINING_THREADS) -> int:
    """`requested` threads, or `cpu_count()` for 0; ValueError unless an int >= 0."""
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 0:
        raise ValueError(f"training threads must be an integer >= 0, got {requested!r}")
    return requested or cpu_count()

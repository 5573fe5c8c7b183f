"""How `make unit` spreads the suite over its pytest-xdist workers (`pytest -n 3`).

Each file's tests run on one worker, so that a module's fixtures (a server, an emulator, a
Spark session) start once; and every file that uses the session's training runs on one
worker, so that the shared data is trained on once. xdist's own grouping marks
(`--dist loadgroup`) rename the test ids, which pytest 9 no longer allows, and the
controller that schedules never collects the tests: the workers say which files train, in a
file the controller names (`GROUPS_FILE`), and `TrainingTogether` reads it.

Schemathesis gives the tests it generates, one per API operation, one id under pytest 9, and
xdist runs one test per id: `make unit` runs that file on its own, without workers.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling

GROUPS_FILE = "TESTS_TRAINING_FILES"  # the environment variable naming the file
# `trained`, and the fixtures of tests/model that ask for it as they run
# (`request.getfixturevalue`): unseen in a test's fixture names.
TRAINING_FIXTURES = {"trained", "trained_here", "champion_dir", "held_out"}
TRAINING = "the session's training"
# The slowest files but those, slowest first (`make unit` on 2 cores, 2026-12-07), started
# first. A stale list costs only time.
SLOWEST = (
    "tests/feature_store/test_online_stores.py",
    "tests/training/test_lifecycle_e2e.py",
    "tests/test_answers_unchanged.py",
    "tests/portfolio/test_spark_monitoring.py",
    "tests/cli/test_cli.py",
    "tests/console/test_customer.py",
    "tests/prediction_log/test_faults.py",
    "tests/delivery/test_container.py",
    "tests/serving/test_reload_registry.py",
    "tests/portfolio/test_optional_columns.py",
    "tests/serving/test_serve_broken_bundles.py",
    "tests/training/test_gate_checks_e2e.py",
)


def name_groups_file() -> None:
    """In the controller, before the workers start (they inherit the environment)."""
    folder = tempfile.mkdtemp(prefix="bankrisk-tests-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ[GROUPS_FILE] = str(Path(folder) / "groups")


def arrange(items: list[pytest.Item]) -> None:
    """In each worker, once collected (all alike): the files whose tests use the session's
    training, named in `GROUPS_FILE` for the controller, and those and the slowest files
    moved to the front, so that no long file is left to run alone at the end."""
    path = os.environ.get(GROUPS_FILE)
    if path is None:
        return
    files = sorted(
        {_file(i.nodeid) for i in items if TRAINING_FIXTURES & set(getattr(i, "fixturenames", ()))}
    )
    written = Path(f"{path}.{os.getpid()}")
    written.write_text(json.dumps(files))
    written.replace(path)  # whole, whichever worker is last
    first = {file: rank for rank, file in enumerate([*files, *SLOWEST])}
    items.sort(key=lambda item: first.get(_file(item.nodeid), len(first)))  # stable


@cache
def _training_files() -> frozenset[str]:
    return frozenset(json.loads(Path(os.environ[GROUPS_FILE]).read_text()))


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class TrainingTogether(LoadFileScheduling):
    """xdist's `loadfile`, with the files that train as one unit, in the order `arrange`
    gave (not xdist's, most tests first); refuses tests that share an id, since xdist would
    run one of them and say nothing of the others."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        config.option.loadscopereorder = False

    def schedule(self) -> None:
        if self.collection is None:  # the first call, all collected
            ids = Counter(next(iter(self.registered_collections.values())))
            if shared := sorted(nodeid for nodeid, count in ids.items() if count > 1):
                raise pytest.UsageError(
                    f"tests that share an id, of which pytest-xdist would run one: {shared}; "
                    "run them without -n (as `make unit` runs tests/serving/test_schemathesis.py)"
                )
        super().schedule()

    def _split_scope(self, nodeid: str) -> str:
        file = _file(nodeid)
        return TRAINING if file in _training_files() else file

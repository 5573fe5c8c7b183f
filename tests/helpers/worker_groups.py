"""How `make unit` spreads the suite over its pytest-xdist workers (`pytest -n 3`).

Each file's tests run on one worker, so that a module's fixtures (a server, an emulator, a
Spark session) start once; and every file that uses the session's training runs on one
worker, so that the shared data is trained on once. xdist's own grouping marks
(`--dist loadgroup`) work by renaming the test ids, which pytest 9.2 ignores, and the
controller that schedules never collects the tests: the workers say which files train, in a
file the controller names (`GROUPS_FILE`), and `TrainingTogether` reads it.

`make unit` runs two files after, without workers (`SERIAL` in the Makefile): Schemathesis
gives the tests it generates, one per API operation, one id under pytest 9, and xdist runs one
test per id; and the log's fault tests assert that nothing is lost while they kill the writer
under load, which the other workers' load on two cores made fail once.
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

import pytest
from xdist.scheduler import LoadFileScheduling

GROUPS_FILE = "TESTS_TRAINING_FILES"  # the environment variable naming the file
# `trained`, and the fixtures of tests/model that ask for it as they run
# (`request.getfixturevalue`): unseen in a test's fixture names.
TRAINING_FIXTURES = {"trained", "trained_here", "champion_dir", "held_out"}
TRAINING = "the session's training"


def name_groups_file() -> None:
    """In the controller, before the workers start (they inherit the environment)."""
    folder = tempfile.mkdtemp(prefix="bankrisk-tests-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ[GROUPS_FILE] = str(Path(folder) / "groups")


def write_training_files(items: list[pytest.Item]) -> None:
    """In each worker, once collected: the files whose tests use the session's training,
    named in `GROUPS_FILE` for the controller."""
    path = os.environ.get(GROUPS_FILE)
    if path is None:
        return
    files = sorted(
        {_file(i.nodeid) for i in items if TRAINING_FIXTURES & set(getattr(i, "fixturenames", ()))}
    )
    written = Path(f"{path}.{os.getpid()}")
    written.write_text(json.dumps(files))
    written.replace(path)  # whole, whichever worker is last


@cache
def _training_files() -> frozenset[str]:
    return frozenset(json.loads(Path(os.environ[GROUPS_FILE]).read_text()))


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class TrainingTogether(LoadFileScheduling):
    """xdist's `loadfile`, with the files that train as one unit; refuses tests that share
    an id, since xdist would run one of them and say nothing of the others."""

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

"""`bankrisk serve` on a broken bundle, as a real process: exit code 2 and exactly one JSON
CRITICAL line naming the file and field, never a traceback, whatever the breakage."""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers.breakages import BREAKAGES, Breakage
from helpers.processes import clean_env, free_port, serve_command


@pytest.fixture(scope="module")
def refusals(
    bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Every breakage served once; the processes run a few at a time (each fails at start)."""
    root = tmp_path_factory.mktemp("broken")

    def serve_broken(breakage: Breakage) -> tuple[Path, subprocess.CompletedProcess[str]]:
        directory = root / breakage.name.replace(" ", "-")
        shutil.copytree(bundle_dir, directory)
        breakage.apply(directory)
        done = subprocess.run(
            serve_command(directory, free_port()),
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
            check=False,
        )
        return directory, done

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(serve_broken, BREAKAGES))
    return {b.name: result for b, result in zip(BREAKAGES, results, strict=True)}


@pytest.mark.parametrize("breakage", BREAKAGES, ids=str)
def test_broken_bundle_exits_2_with_one_json_line(
    refusals: dict[str, tuple[Path, subprocess.CompletedProcess[str]]], breakage: Breakage
) -> None:
    directory, done = refusals[breakage.name]

    assert done.returncode == 2, done.stderr
    assert done.stderr == ""
    (text,) = done.stdout.splitlines()
    line = json.loads(text)
    assert line["severity"] == "CRITICAL"
    assert line["message"].startswith("cannot serve: model bundle ")
    assert str(directory) in line["message"]
    for fragment in breakage.expected:
        assert fragment in line["message"]
    assert line["model_dir"] == str(directory)

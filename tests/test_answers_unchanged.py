"""Every scoring entry point answers the 24,000 shared rows byte for byte as it did before
issue 19's change of shape (request ids aside): `answers.json` was recorded on the code before
it, with the same bundle (checked first: a different bundle would make the comparison moot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.answers import RECORDED, answers
from helpers.factories import make_bundle


@pytest.mark.slow
def test_answers_are_the_recorded_ones(tmp_path: Path, shared_csv: Path) -> None:
    bundle_dir = tmp_path / "bundle"
    make_bundle().save(bundle_dir)
    recorded = json.loads(RECORDED.read_text())
    got = answers(bundle_dir, shared_csv, tmp_path)
    assert got["bundle"] == recorded["bundle"], "the test bundle is not the one recorded with"
    for entry_point in recorded:
        assert got[entry_point] == recorded[entry_point], entry_point

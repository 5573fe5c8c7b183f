"""A bundle records what data it was trained on, never where that file sat on a machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.store import METADATA_FILE, MODEL_CARD_FILE
from bankrisk.config import Settings
from bankrisk.data.training_data import read_training_data
from bankrisk.schema import FIELD_NAMES, ID_COLUMN, TARGET
from bankrisk.training.assessment import evaluate_candidate
from bankrisk.training.pipeline import train_all
from bankrisk.training.splits import split_dev_test
from helpers.factories import make_raw


def strings(value: Any) -> list[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(value, dict):
        return [*value, *(s for v in value.values() for s in strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def test_saved_metadata_and_card_hold_no_absolute_path(tmp_path: Path) -> None:
    data_file = tmp_path / "machine" / "specific" / "layout" / "credit.csv"
    data_file.parent.mkdir(parents=True)
    raw, labels = make_raw(1200, seed=8)
    frame = pd.DataFrame(np.round(raw), columns=list(FIELD_NAMES))
    frame.insert(0, ID_COLUMN, np.arange(1, len(frame) + 1))
    frame[TARGET] = labels
    frame.to_csv(data_file, index=False)
    settings = Settings(candidates=("scorecard",), reports_dir=tmp_path / "reports")

    # What `bankrisk train` does, minus MLflow: read, train, assess, save with the card.
    data = read_training_data(data_file)
    dev, test = split_dev_test(data.labels, settings.test_size, settings.seed)
    (result,) = train_all(data.raw[dev], data.labels[dev], settings, lambda _: None)
    bundle, _, card = evaluate_candidate(
        result, data, dev, test, settings, "1", tmp_path / "reports" / "scorecard"
    )
    bundle_dir = tmp_path / "models" / "champion"
    bundle.save(bundle_dir, model_card=card)

    fingerprint = ModelBundle.load(bundle_dir).metadata["data_fingerprint"]
    assert fingerprint["file"] == "credit.csv"
    assert fingerprint["size_bytes"] == data_file.stat().st_size
    assert fingerprint["rows"] == 1200 and len(fingerprint["sha256"]) == 64
    metadata_text = (bundle_dir / METADATA_FILE).read_text(encoding="utf-8")
    card_text = (bundle_dir / MODEL_CARD_FILE).read_text(encoding="utf-8")
    assert "credit.csv" in card_text
    for text in (metadata_text, card_text):
        assert str(tmp_path) not in text
        assert "machine/specific" not in text
    assert not [s for s in strings(json.loads(metadata_text)) if s.startswith(("/", "~"))]

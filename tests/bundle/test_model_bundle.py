import json
import re
from pathlib import Path

import numpy as np
import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.store import ARRAYS_FILE, MANIFEST_FILE, METADATA_FILE, seal
from bankrisk.errors import BundleError
from bankrisk.features.engineering import FeatureSet
from bankrisk.schema import FIELD_NAMES
from helpers.factories import make_bundle, make_raw

COL = {name: i for i, name in enumerate(FIELD_NAMES)}


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return make_bundle()


def test_round_trip_scores_identically(bundle: ModelBundle, tmp_path: Path) -> None:
    raw, _ = make_raw(300, seed=9)
    bundle.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_FILE, METADATA_FILE, ARRAYS_FILE]
    loaded = ModelBundle.load(tmp_path)
    np.testing.assert_array_equal(loaded.predict_pd(raw), bundle.predict_pd(raw))
    assert (loaded.name, loaded.version) == ("test-model", "7")
    scores = loaded.score(raw)
    assert scores.reasons == bundle.score(raw).reasons
    assert set(scores.decisions) <= {"approve", "review", "decline"}


def test_arrays_load_without_pickle(bundle: ModelBundle, tmp_path: Path) -> None:
    bundle.save(tmp_path)
    with np.load(tmp_path / ARRAYS_FILE, allow_pickle=False) as npz:
        assert all(npz[key].dtype != object for key in npz.files)


def test_missing_and_corrupt_bundles_fail_clearly(bundle: ModelBundle, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="missing"):
        ModelBundle.load(tmp_path / "nowhere")
    bundle.save(tmp_path)
    with (tmp_path / ARRAYS_FILE).open("ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(BundleError, match="checksum"):
        ModelBundle.load(tmp_path)
    bundle.save(tmp_path)
    (tmp_path / METADATA_FILE).write_text("{not json")
    seal(tmp_path)  # consistent checksums, so the JSON itself is what fails
    with pytest.raises(BundleError, match="not valid JSON"):
        ModelBundle.load(tmp_path)


def test_feature_mismatch_is_refused(bundle: ModelBundle, tmp_path: Path) -> None:
    bundle.save(tmp_path)
    meta = json.loads((tmp_path / METADATA_FILE).read_text())
    meta["features"] = meta["features"][:-1]
    (tmp_path / METADATA_FILE).write_text(json.dumps(meta))
    seal(tmp_path)
    with pytest.raises(BundleError, match="other features"):
        ModelBundle.load(tmp_path)


def test_reasons_rank_recent_delinquency_first(bundle: ModelBundle) -> None:
    raw, _ = make_raw(1, seed=2)
    raw[0, [COL[c] for c in ("PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6")]] = [
        3,
        0,
        0,
        0,
        0,
        0,
    ]
    reasons = bundle.score(raw).reasons[0]
    assert 1 <= len(reasons) <= 4
    assert reasons[0]["code"] == "R01"
    assert reasons[0]["attribute"] == "late" and reasons[0]["value"] == "PAY_0 = 3"
    assert reasons[0]["text"] == "Payment 3 months late in September"
    keys = {"code", "group", "feature", "attribute", "value", "text", "contribution"}
    assert all(set(r) == keys for r in reasons)


def test_reasons_never_name_protected_attributes_or_education() -> None:
    with_both = make_bundle(FeatureSet(use_age=True, use_education=True))
    raw, _ = make_raw(500, seed=4)
    for reasons in with_both.score(raw).reasons:
        assert all(r["group"] not in {"PROTECTED", "EDUCATION"} for r in reasons)
        assert all(
            not re.search(r"\b(age|sex|marri\w*|education)\b", r["text"], re.IGNORECASE)
            for r in reasons
        )


def test_education_and_age_round_trip(tmp_path: Path) -> None:
    with_both = make_bundle(FeatureSet(use_age=True, use_education=True))
    with_both.save(tmp_path)
    loaded = ModelBundle.load(tmp_path)
    assert loaded.feature_set == FeatureSet(use_age=True, use_education=True)
    assert loaded.reason_policy == with_both.reason_policy
    raw, _ = make_raw(200, seed=6)
    assert loaded.score(raw).reasons == with_both.score(raw).reasons

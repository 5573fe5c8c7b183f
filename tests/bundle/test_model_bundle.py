import json
from pathlib import Path

import numpy as np
import pytest

from bankrisk.bundle.model_bundle import ARRAYS_FILE, METADATA_FILE, ModelBundle
from bankrisk.bundle.policy import DecisionPolicy, ScoreScaling
from bankrisk.bundle.predictors import Calibrator
from bankrisk.errors import BundleError
from bankrisk.features.engineering import build_features
from bankrisk.schema import FIELD_NAMES
from bankrisk.training.candidates.base import Dataset
from bankrisk.training.candidates.gbm import GradientBoostedTrees
from factories import make_raw

COL = {name: i for i, name in enumerate(FIELD_NAMES)}
POLICY = DecisionPolicy(0.3, 0.15, (0.05, 0.1, 0.2, 0.4, 1.0), ScoreScaling(600, 50, 20))


def make_bundle(use_age: bool = False) -> ModelBundle:
    raw, labels = make_raw(3000, seed=5)
    data = Dataset(build_features(raw, use_age), labels.astype(float))
    model = GradientBoostedTrees().fit(data, data.subset(np.arange(500)), seed=1, hints={})
    calibrator = Calibrator("platt", np.array([1.0, 0.0]), np.zeros(0))
    return ModelBundle(
        model.export(data.features),
        calibrator,
        POLICY,
        {"name": "test-model", "version": "7"},
        use_age,
    )


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return make_bundle()


def test_round_trip_scores_identically(bundle: ModelBundle, tmp_path: Path) -> None:
    raw, _ = make_raw(300, seed=9)
    bundle.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [METADATA_FILE, ARRAYS_FILE]
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
    with pytest.raises(BundleError, match="not valid JSON"):
        ModelBundle.load(tmp_path)


def test_feature_mismatch_is_refused(bundle: ModelBundle, tmp_path: Path) -> None:
    bundle.save(tmp_path)
    meta = json.loads((tmp_path / METADATA_FILE).read_text())
    meta["features"] = meta["features"][:-1]
    (tmp_path / METADATA_FILE).write_text(json.dumps(meta))
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
    assert all(set(r) == {"code", "group", "feature", "text"} for r in reasons)


def test_reasons_never_name_protected_attributes() -> None:
    with_age = make_bundle(use_age=True)
    raw, _ = make_raw(500, seed=4)
    for reasons in with_age.score(raw).reasons:
        assert all(r["group"] != "PROTECTED" for r in reasons)
        assert all(
            not any(w in r["text"].upper() for w in ("AGE ", "SEX", "MARRI")) for r in reasons
        )

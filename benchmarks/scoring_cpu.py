"""In-process CPU time of the scoring path's parts, on the shared data and a bundle.

CPU time (`time.process_time`), best of several repeats: on a shared machine wall-clock
figures move with other people's work, CPU time much less. Prints, per 1,000-row batch,
the features, the model with its explanation, the reasons (`measure` and the texts) and the
whole `Scorer.predict`; per single row, the same parts on the plain-Python path
(`build_features_row`, `explain_one`, `select_reasons_row`), `ModelBundle.score_row` and
`Scorer.predict_one`.

    .venv/bin/python benchmarks/scoring_cpu.py --model-dir models/champion --data PATH
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.core.scorer import Scorer
from bankrisk.data.load import load_dataset
from bankrisk.features.engineering import build_features_row
from bankrisk.features.reasons import select_reasons, select_reasons_row
from bankrisk.schema import FIELD_NAMES


def cpu_seconds(run: Callable[[], object], number: int, repeat: int) -> float:
    """The best over `repeat` of the mean CPU time of `number` calls."""
    best = float("inf")
    for _ in range(repeat):
        began = time.process_time()
        for _ in range(number):
            run()
        best = min(best, (time.process_time() - began) / number)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="models/champion")
    parser.add_argument("--data", required=True)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    bundle = ModelBundle.load(args.model_dir)
    scorer = Scorer(bundle)
    raw = load_dataset(args.data)[list(FIELD_NAMES)].to_numpy(dtype=np.float64)
    batch, singles = raw[:1000], raw[1000:1500].tolist()
    features = bundle.features(batch)
    _, by_group = bundle.predictor.explain(features)
    policy = bundle.reason_policy
    parts: dict[str, Callable[[], object]] = {
        "features": lambda: bundle.features(batch),
        "model and explanation": lambda: bundle.predictor.explain(features),
        "reasons (attributes and texts)": lambda: select_reasons(batch, features, by_group, policy),
        "Scorer.predict": lambda: scorer.predict(batch, [None] * len(batch)),
    }
    print(f"1,000-row batch, CPU ms (best of {args.repeat}):")
    for name, run in parts.items():
        print(f"  {name:<32}{cpu_seconds(run, 10, args.repeat) * 1e3:8.2f}")
    print(f"one row, CPU us (mean over {len(singles)} rows, best of {args.repeat}):")
    rows = [(r, build_features_row(r, bundle.feature_set)) for r in singles]
    explained = [(r, f, bundle.predictor.explain_one(f)[1]) for r, f in rows]
    one_parts: dict[str, Callable[[], object]] = {
        "build_features_row": lambda: [build_features_row(r, bundle.feature_set) for r in singles],
        "predictor.explain_one": lambda: [bundle.predictor.explain_one(f) for _, f in rows],
        "select_reasons_row": lambda: [select_reasons_row(*e, policy) for e in explained],
        "ModelBundle.score_row": lambda: [bundle.score_row(r) for r in singles],
        "Scorer.predict_one": lambda: [scorer.predict_one(r, None) for r in singles],
    }
    for name, run in one_parts.items():
        seconds = cpu_seconds(run, 1, args.repeat)
        print(f"  {name:<32}{seconds / len(singles) * 1e6:8.1f}")


if __name__ == "__main__":
    main()

"""Are the champion's reason codes true of each customer, and adverse? Counts per code and
attribute.

Scores the held-out test split (or every row, `--rows all`) with a bundle and checks every
stated reason with the tests' own independent checker (`tests/helpers/reason_checker.py`,
which re-derives each attribute's condition and the numbers in its text from the raw fields,
and checks each reason is an adverse attribute worded as one): it prints both counts, untrue
and non-adverse reasons, and the declines with a non-adverse reason.

    .venv/bin/python benchmarks/reason_truth.py --model-dir models/champion \
        --data ../shared/data/default_of_credit_card_clients.csv
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.data.training_data import read_training_data
from bankrisk.features.reasons import REASON_CODES
from bankrisk.schema import FIELD_NAMES
from bankrisk.training.splits import split_dev_test

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.reason_checker import tally, tally_adverse

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared/data/default_of_credit_card_clients.csv"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models/champion"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rows", choices=("test", "all"), default="test")
    args = parser.parse_args()
    settings = Settings()
    bundle = ModelBundle.load(args.model_dir)
    data = read_training_data(args.data)
    raw = data.raw
    if args.rows == "test":
        _, test = split_dev_test(data.labels, settings.test_size, settings.seed)
        raw = raw[test]
    tic = time.monotonic()
    scores = bundle.score(raw)
    reasons = scores.reasons
    seconds = time.monotonic() - tic
    customers = [dict(zip(FIELD_NAMES, row.tolist(), strict=True)) for row in raw]
    given, untrue, problems = tally(customers, reasons, bundle.reason_policy.low_credit_limit)
    not_adverse, answers_with, adverse_problems = tally_adverse(reasons)
    declines = [r for r, d in zip(reasons, scores.decisions, strict=True) if d == "decline"]
    _, declines_with, _ = tally_adverse(declines)
    counts = bundle.reason_frequencies(raw)
    by_attribute = Counter((r["code"], r["attribute"]) for rs in reasons for r in rs)
    print(
        f"{bundle.name} v{bundle.version} ({bundle.metadata.get('model_family')}), "
        f"{len(raw):,} {args.rows} rows scored in {seconds:.2f} s: "
        f"{sum(given.values()):,} reasons, {sum(untrue.values())} contradicted; "
        f"{sum(not rs for rs in reasons):,} answers without a reason, "
        f"mean {np.mean([len(rs) for rs in reasons]):.2f} reasons"
    )
    print(
        f"untrue reasons: {sum(untrue.values())}; non-adverse reasons: "
        f"{sum(not_adverse.values())} in {answers_with:,} answers; declines with a non-adverse "
        f"reason: {declines_with:,} of {len(declines):,}"
    )
    print(
        f"{'code':5} {'attribute':20} {'given':>7} {'untrue':>7} {'non-adverse':>12} "
        f"{'suppressed':>11}"
    )
    for code in REASON_CODES:
        for attribute in code.attributes:
            key = (code.code, attribute.key)
            print(
                f"{code.code:5} {attribute.key:20} {by_attribute[key]:7,} "
                f"{'' if attribute.adverse else '(never)':>7} {not_adverse[key]:12,} "
                f"{counts[key]['suppressed']:11,}"
            )
        print(f"{code.code:5} {'= ' + code.group:20} {given[code.code]:7,} {untrue[code.code]:7,}")
    for problem in [*problems, *adverse_problems][:10]:
        print("PROBLEM", problem)
    sys.exit(1 if untrue or problems or not_adverse else 0)


if __name__ == "__main__":
    main()

"""CPU cost of reading customers from the Feast online store, as the API does
(`OnlineFeatures.read_many`): one id per call, and batches of 32 distinct ids (what the API's
batching sends under load), so the serving benchmark's figures, which repeat one customer,
can be read against distinct customers.

    .venv/bin/python benchmarks/feature_store.py --repo feature_repo [--calls 300] [--repeats 5]

Prints CPU microseconds per customer (process CPU time, not wall clock: the machine is
shared), median and min-max over repeats.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from bankrisk.feature_store.online import OnlineFeatures


def cpu_us_per_customer(features: OnlineFeatures, batches: list[list[str]]) -> float:
    began = time.process_time()
    for ids in batches:
        features.read_many(ids)
    customers = sum(len(ids) for ids in batches)
    return (time.process_time() - began) / customers * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("feature_repo"))
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-id", type=int, default=24000, help="ids 1..N are read")
    args = parser.parse_args()
    features = OnlineFeatures(args.repo)
    features.open()
    rng = random.Random(0)

    def ids(n: int) -> list[str]:
        return [str(rng.randint(1, args.max_id)) for _ in range(n)]

    scenarios = {
        "1 id a call": lambda: [ids(1) for _ in range(args.calls)],
        "32 distinct ids a call": lambda: [ids(32) for _ in range(args.calls // 8)],
        "32 copies of one id a call": lambda: [ids(1) * 32 for _ in range(args.calls // 8)],
    }
    for name, make in scenarios.items():
        runs = [cpu_us_per_customer(features, make()) for _ in range(args.repeats)]
        print(
            f"{name:<28} CPU us per customer {statistics.median(runs):7.0f} "
            f"({min(runs):.0f}-{max(runs):.0f})",
            flush=True,
        )
    features.close()


if __name__ == "__main__":
    main()

"""Batch scoring benchmark: the local scorer, Spark local[2] and mlflow.pyfunc predict on the
same synthetic portfolio (default 1,000,000 rows), in one run.

The portfolio is made once (`bankrisk data synthesize`, seed 0) as CSV and Parquet in a
temporary folder. Each engine then runs in a fresh child process, which reports:
- rows/s end to end (wall clock, from reading the file to the written output), and CPU
  seconds of the whole process tree (user + system, including the JVM and Python workers);
- peak RSS of the child's whole process tree (for Spark: the driver, the JVM and the Python
  workers together), sampled from /proc every 0.2 s, and at least the child's own peak.

Engines: `local`: `score_file`, CSV in, Parquet out (the issue's goal: >= 150,000 rows/s on
2 cores); `local-parquet`: the same from Parquet; `spark`: the Spark job in local[2], Parquet
in and out; `pyfunc`: the registered champion (`models:/bank-default-risk@champion`, from
MLFLOW_TRACKING_URI) loaded with `mlflow.pyfunc.load_model`, predicting one pandas DataFrame of
every row (PD only: no grades or reasons, the whole file in memory).

Wall-clock figures depend on what else runs on the machine: compare within one run, and
read the CPU seconds too.

    make benchmark-batch          # after `make run` has trained a champion
    .venv/bin/python benchmarks/batch_scoring.py --model-dir models/champion --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serving import cpu_seconds, rss_mb  # benchmarks/serving.py: /proc of a process tree

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "default_of_credit_card_clients.csv"
ENGINES = ("local", "local-parquet", "spark", "pyfunc")


def _usage() -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        "rss_mb": me.ru_maxrss / 1024,
    }


def child(engine: str, model_dir: Path, folder: Path) -> dict[str, Any]:
    """Run one engine in this process; return its figures."""
    start = time.monotonic()
    if engine in ("local", "local-parquet"):
        from bankrisk.portfolio.local import score_file

        source = folder / ("portfolio.csv" if engine == "local" else "portfolio.parquet")
        rows = score_file(model_dir, source, folder / f"{engine}.parquet").rows_scored
    elif engine == "spark":
        from bankrisk.portfolio.spark import score_with_spark, spark_session

        spark = spark_session("local[2]", "bankrisk-benchmark")
        start = time.monotonic()  # the session's start-up is not scoring
        summary = score_with_spark(
            model_dir, folder / "portfolio.parquet", folder / "spark.parquet", spark=spark
        )
        rows = summary.rows_scored
        seconds = time.monotonic() - start
        spark.stop()
        return {"rows": rows, "seconds": seconds, **_usage()}
    else:
        import mlflow.pyfunc
        import pandas as pd

        model = mlflow.pyfunc.load_model("models:/bank-default-risk@champion")
        frame = pd.read_parquet(folder / "portfolio.parquet")
        start = time.monotonic()
        rows = len(model.predict(frame))
    return {"rows": rows, "seconds": time.monotonic() - start, **_usage()}


def run_child(engine: str, model_dir: Path, folder: Path) -> dict[str, Any]:
    """Run one engine in a child process, sampling its whole process tree (the JVM and Python
    workers for Spark) from /proc: peak RSS of the tree, and its CPU seconds."""
    command = [sys.executable, __file__, "--child", engine, "--model-dir", str(model_dir)]
    process = subprocess.Popen(
        [*command, "--folder", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = {"rss_mb": 0.0, "cpu": 0.0}

    def sample() -> None:
        while process.poll() is None:
            peak["rss_mb"] = max(peak["rss_mb"], rss_mb(process.pid))
            peak["cpu"] = max(peak["cpu"], cpu_seconds(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    sampler.join()
    if process.returncode != 0:
        return {"error": stderr.strip().splitlines()[-1] if stderr.strip() else "failed"}
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["tree_rss_mb"] = max(peak["rss_mb"], result["rss_mb"])
    result["cpu"] = max(peak["cpu"], result["cpu"])
    return result


def make_portfolio(data: Path, rows: int, folder: Path) -> None:
    from bankrisk.data.synthesize import synthesize_file

    for suffix in (".csv", ".parquet"):
        synthesize_file(data, folder / f"portfolio{suffix}", rows, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "models" / "champion")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model_dir, args.folder)))
        return
    if not (args.model_dir / "manifest.json").is_file():
        sys.exit(f"no bundle in {args.model_dir}: train one first (make run / make train)")
    with tempfile.TemporaryDirectory(prefix="bankrisk-batch-") as tmp:
        folder = Path(tmp)
        made = time.monotonic()
        make_portfolio(args.data, args.rows, folder)
        print(f"portfolio: {args.rows:,} rows (CSV and Parquet) in {time.monotonic() - made:.0f} s")
        when = datetime.now(UTC).strftime("%Y-%m-%d")
        cpus = os.cpu_count()
        print(f"{when}, {platform.machine()}, {cpus} CPUs, load {os.getloadavg()[0]:.1f}")
        print(f"{'engine':<14} {'rows/s':>10} {'seconds':>8} {'CPU s':>7} {'peak RSS MB':>12}")
        for engine in args.engines.split(","):
            r = run_child(engine, args.model_dir, folder)
            if "error" in r:
                print(f"{engine:<14} failed: {r['error']}")
                continue
            rss = f"{r['tree_rss_mb']:.0f}"
            print(
                f"{engine:<14} {r['rows'] / r['seconds']:>10,.0f} {r['seconds']:>8.1f} "
                f"{r['cpu']:>7.1f} {rss:>12}"
            )


if __name__ == "__main__":
    main()

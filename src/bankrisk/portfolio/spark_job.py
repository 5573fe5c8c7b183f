"""The Spark scoring job as a plain `spark-submit` entry point, for any cluster (Dataproc,
Databricks, EMR):

    spark-submit --py-files bankrisk.zip src/bankrisk/portfolio/spark_job.py \\
        --model-dir BUNDLE_DIR --input gs://bucket/portfolio.parquet \\
        --output gs://bucket/scores.parquet [--skip-invalid]

The cluster gives the master (no `--master` here). BUNDLE_DIR is shipped to every executor
(`SparkContext.addFile`); it may be local to the driver or on any file system Spark reads.
Exit code 0 when scored, 2 on bad input (one message, nothing written).
"""

from __future__ import annotations

import argparse
import sys

from bankrisk.errors import BankRiskError


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="spark_job.py", description="Score a portfolio with a bankrisk bundle on Spark."
    )
    parser.add_argument("--model-dir", required=True, help="The serving bundle folder.")
    parser.add_argument("--input", required=True, help="Parquet (or .csv) portfolio.")
    parser.add_argument("--output", required=True, help="Output folder (Parquet, or .csv).")
    parser.add_argument("--skip-invalid", action="store_true", help="Write bad rows aside.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from bankrisk.portfolio.spark import score_with_spark

    try:
        summary = score_with_spark(
            args.model_dir, args.input, args.output, skip_invalid=args.skip_invalid
        )
    except BankRiskError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    decisions = ", ".join(f"{k} {v:,}" for k, v in summary.decisions.items())
    sys.stdout.write(
        f"{summary.rows_scored:,} rows scored, {summary.rows_rejected:,} rejected in "
        f"{summary.seconds:.1f} s: {decisions}; scores in {summary.output}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

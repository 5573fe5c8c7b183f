"""The Spark scoring job as a plain `spark-submit` entry point, for any cluster (Dataproc,
Databricks, EMR):

    spark-submit --py-files bankrisk.zip src/bankrisk/portfolio/spark_job.py \\
        --model-dir BUNDLE_DIR --input gs://bucket/portfolio.parquet \\
        --output gs://bucket/scores.parquet [--skip-invalid] \\
        [--record gs://bucket/runs --run-id 2026-03 --as-of 2026-03-31]

The cluster gives the master (no `--master` here). BUNDLE_DIR is shipped to every executor
(`SparkContext.addFile`); it may be local to the driver or on any file system Spark reads.
`--record` also records the run for monitoring, as `bankrisk score --engine spark --record`
does (docs/portfolio.md); customer ids are pseudonymised as the prediction log's when
BANKRISK_PREDICTION_LOG_PSEUDONYMISE is set in the driver's environment.
Exit code 0 when scored, 2 on bad input (one message, nothing written).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bankrisk.errors import BankRiskError, UsageError

if TYPE_CHECKING:
    from bankrisk.portfolio.spark import RunRecord


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="spark_job.py", description="Score a portfolio with a bankrisk bundle on Spark."
    )
    parser.add_argument("--model-dir", required=True, help="The serving bundle folder.")
    parser.add_argument("--input", required=True, help="Parquet (or .csv) portfolio.")
    parser.add_argument("--output", required=True, help="Output folder (Parquet, or .csv).")
    parser.add_argument("--skip-invalid", action="store_true", help="Write bad rows aside.")
    parser.add_argument("--record", help="Also record the run in this folder, for monitoring.")
    parser.add_argument("--run-id", help="The run's id in the record [INPUT_STEM-UTC_TIME].")
    parser.add_argument("--as-of", help="The run's date in the record, ISO 8601 [now].")
    return parser.parse_args(argv)


def _record(args: argparse.Namespace) -> RunRecord | None:
    """The run record `--record` asks for; BankRiskError on bad input."""
    from pydantic import ValidationError

    from bankrisk.config import Settings
    from bankrisk.portfolio.spark import bundle_run, run_record, spark_session
    from bankrisk.times import parse_time

    if args.record is None:
        if args.run_id is not None or args.as_of is not None:
            raise UsageError("--run-id and --as-of name a run recorded with --record")
        return None
    as_of = parse_time(args.as_of, "--as-of")
    try:
        settings = Settings()
    except ValidationError as exc:
        raise UsageError(f"invalid settings: {exc.errors()[0]['msg']}") from None
    run = bundle_run(spark_session(None), args.model_dir, args.run_id, as_of, args.input)
    return run_record(args.record, run, settings)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from bankrisk.portfolio.spark import score_with_spark

    try:
        record = _record(args)
        summary = score_with_spark(
            args.model_dir, args.input, args.output, skip_invalid=args.skip_invalid, record=record
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

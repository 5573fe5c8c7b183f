#!/usr/bin/env bash
# Score a portfolio with the bankrisk Spark job on Dataproc Serverless (gcloud).
#
#   deploy/dataproc.sh [options] --input gs://B/portfolio.parquet --output gs://B/scores.parquet
#
# Options (or environment variables):
#   --project ID         PROJECT_ID       Google Cloud project (required)
#   --region R           REGION           default europe-west1
#   --bucket B           BUCKET           staging bucket for the job file and a local bundle (required)
#   --model-dir DIR      MODEL_DIR        the serving bundle: a local folder (copied to
#                                         gs://B/bankrisk/bundles/NAME) or gs://...; default models/champion
#   --input URI          INPUT            Parquet (or .csv) portfolio on Cloud Storage (required)
#   --output URI         OUTPUT           output folder on Cloud Storage (required)
#   --container-image I  CONTAINER_IMAGE  image with bankrisk installed (pip install .), required:
#                                         the runtime has no onnxruntime
#   --runtime V          RUNTIME          Dataproc Serverless runtime version, default 2.3
#   --service-account SA SERVICE_ACCOUNT  default: the project's default compute account
#   --batch ID           BATCH            batch id, default bankrisk-score-YYYYMMDD-HHMMSS
#   --skip-invalid                        write bad rows to OUTPUT.rejects instead of failing
#   --record URI         RECORD           also record the run for monitoring in this gs:// folder
#   --run-id ID          RUN_ID           the run's id in the record (with --record)
#   --as-of DATE         AS_OF            the run's date, ISO 8601 (with --record; default now)
#   --dry-run            DRY_RUN=1        print the exact commands, run nothing
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
PROJECT_ID="${PROJECT_ID:-}"
REGION="${REGION:-europe-west1}"
BUCKET="${BUCKET:-}"
MODEL_DIR="${MODEL_DIR:-models/champion}"
INPUT="${INPUT:-}"
OUTPUT="${OUTPUT:-}"
CONTAINER_IMAGE="${CONTAINER_IMAGE:-}"
RUNTIME="${RUNTIME:-2.3}"
SERVICE_ACCOUNT="${SERVICE_ACCOUNT:-}"
BATCH="${BATCH:-bankrisk-score-$(date -u +%Y%m%d-%H%M%S)}"
SKIP_INVALID=0
RECORD="${RECORD:-}"
RUN_ID="${RUN_ID:-}"
AS_OF="${AS_OF:-}"
GCLOUD="${GCLOUD:-gcloud}"

need() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --project) need "$@"; PROJECT_ID="$2"; shift 2 ;;
        --region) need "$@"; REGION="$2"; shift 2 ;;
        --bucket) need "$@"; BUCKET="$2"; shift 2 ;;
        --model-dir) need "$@"; MODEL_DIR="$2"; shift 2 ;;
        --input) need "$@"; INPUT="$2"; shift 2 ;;
        --output) need "$@"; OUTPUT="$2"; shift 2 ;;
        --container-image) need "$@"; CONTAINER_IMAGE="$2"; shift 2 ;;
        --runtime) need "$@"; RUNTIME="$2"; shift 2 ;;
        --service-account) need "$@"; SERVICE_ACCOUNT="$2"; shift 2 ;;
        --batch) need "$@"; BATCH="$2"; shift 2 ;;
        --skip-invalid) SKIP_INVALID=1; shift ;;
        --record) need "$@"; RECORD="$2"; shift 2 ;;
        --run-id) need "$@"; RUN_ID="$2"; shift 2 ;;
        --as-of) need "$@"; AS_OF="$2"; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

check_project
[[ "$REGION" =~ ^[a-z]+-[a-z]+[0-9]$ ]] || die "invalid region '$REGION'"
[[ -n "$BUCKET" ]] || die "no staging bucket: give --bucket NAME or set BUCKET"
[[ "$BUCKET" =~ ^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$ ]] || die "invalid bucket name '$BUCKET'"
[[ "$INPUT" == gs://* ]] || die "--input must be a gs:// URI, got '${INPUT}'"
[[ "$OUTPUT" == gs://* ]] || die "--output must be a gs:// URI, got '${OUTPUT}'"
[[ -n "$CONTAINER_IMAGE" ]] || die "no --container-image: the job needs an image with bankrisk installed"
[[ "$BATCH" =~ ^[a-z0-9][a-z0-9-]{2,61}[a-z0-9]$ ]] || die "invalid batch id '$BATCH'"
[[ -z "$RECORD" || "$RECORD" == gs://* ]] || die "--record must be a gs:// URI, got '${RECORD}'"
[[ -n "$RECORD" || -z "$RUN_ID$AS_OF" ]] || die "--run-id and --as-of name a run recorded with --record"

STAGE="gs://${BUCKET}/bankrisk"
JOB="$(cd "${HERE}/.." && pwd)/src/bankrisk/portfolio/spark_job.py"
if [[ "$MODEL_DIR" == gs://* ]]; then
    BUNDLE="$MODEL_DIR"
else
    [[ "$DRY_RUN" == 1 || -f "$MODEL_DIR/manifest.json" ]] || die "--model-dir $MODEL_DIR: no bundle there"
    BUNDLE="${STAGE}/bundles/$(basename "$MODEL_DIR")"
    run "$GCLOUD" storage cp --recursive "$MODEL_DIR" "${STAGE}/bundles/"
fi
run "$GCLOUD" storage cp "$JOB" "${STAGE}/spark_job.py"

submit=("$GCLOUD" dataproc batches submit pyspark "${STAGE}/spark_job.py"
    --project "$PROJECT_ID" --region "$REGION" --batch "$BATCH" --version "$RUNTIME"
    --container-image "$CONTAINER_IMAGE" --deps-bucket "gs://${BUCKET}")
[[ -z "$SERVICE_ACCOUNT" ]] || submit+=(--service-account "$SERVICE_ACCOUNT")
job_args=(--model-dir "$BUNDLE" --input "$INPUT" --output "$OUTPUT")
[[ "$SKIP_INVALID" == 0 ]] || job_args+=(--skip-invalid)
[[ -z "$RECORD" ]] || job_args+=(--record "$RECORD")
[[ -z "$RUN_ID" ]] || job_args+=(--run-id "$RUN_ID")
[[ -z "$AS_OF" ]] || job_args+=(--as-of "$AS_OF")
run "${submit[@]}" -- "${job_args[@]}"

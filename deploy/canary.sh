#!/usr/bin/env bash
# Canary releases of the bankrisk API on Cloud Run, with gcloud.
#
#   deploy/canary.sh [options] init IMAGE        create/replace the service from deploy/service.yaml
#   deploy/canary.sh [options] deploy IMAGE      new revision, NO traffic, reachable under the tag URL
#   deploy/canary.sh [options] shift PERCENT     send PERCENT (0-100) of traffic to the tagged revision
#   deploy/canary.sh [options] promote           send 100% to the tagged revision
#   deploy/canary.sh [options] rollback [REV]    canary back to 0% (the rest keep serving);
#                                                with REV: 100% to that revision (after a promote)
#   deploy/canary.sh [options] status            show the revisions and the traffic split
#
# Options (or environment variables):
#   --project ID        PROJECT_ID       Google Cloud project (required)
#   --region R          REGION           default europe-west1
#   --service NAME      SERVICE          default bankrisk
#   --tag TAG           TAG              revision tag of the canary, default canary
#   --service-account SA SERVICE_ACCOUNT default bankrisk-run@PROJECT.iam.gserviceaccount.com
#   --allow-unauthenticated              make the service public (default: Cloud Run IAM only)
#   --dry-run           DRY_RUN=1        print the exact gcloud commands, run nothing
#
# Authentication is Cloud Run IAM by default (--no-allow-unauthenticated): callers need
# roles/run.invoker and an identity token. A typical release:
#   deploy IMAGE; smoke-test https://canary---SERVICE-....run.app; shift 10; shift 50; promote
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
PROJECT_ID="${PROJECT_ID:-}"
REGION="${REGION:-europe-west1}"
SERVICE="${SERVICE:-bankrisk}"
TAG="${TAG:-canary}"
SERVICE_ACCOUNT="${SERVICE_ACCOUNT:-}"
PUBLIC=0
GCLOUD="${GCLOUD:-gcloud}"

args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --project) PROJECT_ID="${2:?--project needs a value}"; shift 2 ;;
        --region) REGION="${2:?--region needs a value}"; shift 2 ;;
        --service) SERVICE="${2:?--service needs a value}"; shift 2 ;;
        --tag) TAG="${2:?--tag needs a value}"; shift 2 ;;
        --service-account) SERVICE_ACCOUNT="${2:?--service-account needs a value}"; shift 2 ;;
        --allow-unauthenticated) PUBLIC=1; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --*) die "unknown option $1" ;;
        *) args+=("$1"); shift ;;
    esac
done
[[ ${#args[@]} -ge 1 ]] || { usage >&2; exit 2; }
cmd="${args[0]}"
set -- "${args[@]:1}"

check_project
[[ "$REGION" =~ ^[a-z]+-[a-z]+[0-9]$ ]] || die "invalid region '$REGION'"
[[ "$SERVICE" =~ ^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$ ]] || die "invalid service name '$SERVICE'"
[[ "$TAG" =~ ^[a-z]([a-z0-9-]{0,44}[a-z0-9])?$ ]] || die "invalid tag '$TAG' (lowercase letters, digits, -)"
SERVICE_ACCOUNT="${SERVICE_ACCOUNT:-bankrisk-run@${PROJECT_ID}.iam.gserviceaccount.com}"
LOCATION=(--project "$PROJECT_ID" --region "$REGION")
if [[ $PUBLIC -eq 1 ]]; then AUTH=--allow-unauthenticated; else AUTH=--no-allow-unauthenticated; fi

case "$cmd" in
    init)
        [[ $# -eq 1 && -n "$1" ]] || die "usage: init IMAGE"
        image="$1"
        rendered="${RENDER_DIR:-${TMPDIR:-/tmp}}/${SERVICE}-service.yaml"
        PROJECT_ID="$PROJECT_ID" REGION="$REGION" SERVICE="$SERVICE" IMAGE="$image" \
            SERVICE_ACCOUNT="$SERVICE_ACCOUNT" python3 - "$HERE/service.yaml" "$rendered" <<'PY'
import os, re, sys
src, dst = sys.argv[1:]
keys = ("PROJECT_ID", "REGION", "SERVICE", "IMAGE", "SERVICE_ACCOUNT")
text = re.sub(r"\$\{(" + "|".join(keys) + r")\}", lambda m: os.environ[m.group(1)], open(src).read())
left = re.findall(r"\$\{[A-Z_]+\}", text)
if left:
    sys.exit(f"unfilled placeholders in {src}: {left}")
open(dst, "w").write(text)
PY
        run "$GCLOUD" run services replace "$rendered" "${LOCATION[@]}" --quiet
        if [[ $PUBLIC -eq 1 ]]; then
            run "$GCLOUD" run services add-iam-policy-binding "$SERVICE" "${LOCATION[@]}" \
                --member=allUsers --role=roles/run.invoker --quiet
        fi
        ;;
    deploy)
        [[ $# -eq 1 && -n "$1" ]] || die "usage: deploy IMAGE"
        run "$GCLOUD" run deploy "$SERVICE" "${LOCATION[@]}" --image "$1" \
            --no-traffic --tag "$TAG" "$AUTH" --quiet
        ;;
    shift)
        [[ $# -eq 1 ]] || die "usage: shift PERCENT"
        [[ "$1" =~ ^(0|[1-9][0-9]?|100)$ ]] || die "PERCENT must be an integer from 0 to 100, got '$1'"
        run "$GCLOUD" run services update-traffic "$SERVICE" "${LOCATION[@]}" \
            --to-tags "$TAG=$1" --quiet
        ;;
    promote)
        [[ $# -eq 0 ]] || die "usage: promote"
        run "$GCLOUD" run services update-traffic "$SERVICE" "${LOCATION[@]}" \
            --to-tags "$TAG=100" --quiet
        ;;
    rollback)
        [[ $# -le 1 ]] || die "usage: rollback [REVISION]"
        if [[ $# -eq 1 ]]; then
            [[ "$1" =~ ^[a-z][a-z0-9-]*$ ]] || die "invalid revision name '$1'"
            run "$GCLOUD" run services update-traffic "$SERVICE" "${LOCATION[@]}" \
                --to-revisions "$1=100" --quiet
        else
            run "$GCLOUD" run services update-traffic "$SERVICE" "${LOCATION[@]}" \
                --to-tags "$TAG=0" --quiet
        fi
        ;;
    status)
        [[ $# -eq 0 ]] || die "usage: status"
        run "$GCLOUD" run services describe "$SERVICE" "${LOCATION[@]}" \
            --format="yaml(status.traffic,status.latestReadyRevisionName)"
        ;;
    *)
        die "unknown command '$cmd' (init, deploy, shift, promote, rollback, status)"
        ;;
esac

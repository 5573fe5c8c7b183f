#!/usr/bin/env bash
# Apply the Cloud Monitoring side of bankrisk operations to a Google Cloud project, with gcloud:
# the log-based metric prediction_latency_seconds (cloud/prediction_latency_seconds.yaml) and
# the SLO alert policy (cloud/alert-policy.yaml). Safe to re-run: an existing metric or policy
# (same name / display name) is updated, not duplicated.
#
#   deploy/monitoring/apply-cloud-monitoring.sh --project ID [options]
#
# Options (or environment variables):
#   --project ID                 PROJECT_ID   Google Cloud project (required)
#   --notification-channels LIST CHANNELS     comma-separated channel names or ids to notify
#   --dry-run                    DRY_RUN=1    print the exact gcloud commands, run nothing: the
#                                             changes on stdout, the look-ups before them on
#                                             stderr (as for a first apply: nothing exists yet)
#   -h, --help
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$HERE/../lib.sh"
METRIC_FILE="$HERE/cloud/prediction_latency_seconds.yaml"
POLICY_FILE="$HERE/cloud/alert-policy.yaml"
METRIC=prediction_latency_seconds
PROJECT_ID="${PROJECT_ID:-}"
CHANNELS="${CHANNELS:-}"
GCLOUD="${GCLOUD:-gcloud}"

while [[ $# -gt 0 ]]; do
    case "$1" in
        --project) PROJECT_ID="${2:?--project needs a value}"; shift 2 ;;
        --notification-channels) CHANNELS="${2:?--notification-channels needs a value}"; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
check_project
[[ -z "$CHANNELS" || "$CHANNELS" =~ ^[A-Za-z0-9/_.:-]+(,[A-Za-z0-9/_.:-]+)*$ ]] ||
    die "invalid --notification-channels '$CHANNELS' (comma-separated channel names or ids)"
[[ -f "$METRIC_FILE" && -f "$POLICY_FILE" ]] || die "missing $METRIC_FILE or $POLICY_FILE"

# A look-up: its output; in a dry run it is printed on stderr and finds nothing (a first apply).
lookup() {
    if [[ "$DRY_RUN" == 1 ]]; then
        run "$@" >&2
    else
        "$@"
    fi
}

# 1. The log-based metric.
if [[ -n "$(lookup "$GCLOUD" logging metrics list --project "$PROJECT_ID" \
    --filter="name=$METRIC" --format="value(name)")" ]]; then
    run "$GCLOUD" logging metrics update "$METRIC" --project "$PROJECT_ID" --config-from-file="$METRIC_FILE"
else
    run "$GCLOUD" logging metrics create "$METRIC" --project "$PROJECT_ID" --config-from-file="$METRIC_FILE"
fi

# 2. The alert policy, found by its display name.
display_name="$(sed -n 's/^displayName: "\(.*\)"$/\1/p' "$POLICY_FILE")"
[[ -n "$display_name" ]] || die "no displayName in $POLICY_FILE"
existing="$(lookup "$GCLOUD" alpha monitoring policies list --project "$PROJECT_ID" \
    --filter="displayName=\"$display_name\"" --format="value(name)")"
policy_args=(--project "$PROJECT_ID" --policy-from-file="$POLICY_FILE")
[[ -z "$CHANNELS" ]] || policy_args+=(--notification-channels="$CHANNELS")
if [[ -n "$existing" ]]; then
    run "$GCLOUD" alpha monitoring policies update "${existing%%$'\n'*}" "${policy_args[@]}"
else
    run "$GCLOUD" alpha monitoring policies create "${policy_args[@]}"
fi

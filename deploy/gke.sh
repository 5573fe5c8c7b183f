#!/usr/bin/env bash
# The bankrisk API on GKE (deploy/kubernetes), with gcloud and kubectl; canaries as a second
# Deployment behind the same Service (the canary's share of the pods is its share of traffic).
#
#   deploy/gke.sh [options] apply IMAGE            Secrets from Secret Manager, `kubectl apply -k`
#                                                  the overlay on IMAGE, wait for the rollout
#   deploy/gke.sh [options] canary IMAGE PERCENT   the canary Deployment on IMAGE with PERCENT
#                                                  (1-50) of the pods beside the stable ones
#   deploy/gke.sh [options] promote IMAGE          `apply` IMAGE (the canary's): the stable pods
#                                                  run it, the canary goes back to 0 pods
#   deploy/gke.sh [options] rollback               the canary to 0 pods (the stable pods serve all)
#   deploy/gke.sh [options] status                 the Deployments, the autoscaler, the pods
#
# Options (or environment variables):
#   --project ID        PROJECT_ID       Google Cloud project (required)
#   --location L        LOCATION         the cluster's region or zone, default europe-west1
#   --cluster NAME      CLUSTER          default bankrisk
#   --overlay NAME      OVERLAY          dev or prod (deploy/kubernetes/overlays), default prod
#   --dry-run           DRY_RUN=1        print the exact commands, run nothing
#
# prod refuses an image that is not pinned by digest (IMAGE@sha256:...). The API keys come from
# the Secret Manager secret bankrisk-api-keys, and in prod the prediction log's URL from
# bankrisk-prediction-log, into Kubernetes Secrets of the same names (never through a file or
# an argument). Every command first gets the cluster's credentials. docs/kubernetes.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
PROJECT_ID="${PROJECT_ID:-}"
LOCATION="${LOCATION:-europe-west1}"
CLUSTER="${CLUSTER:-bankrisk}"
OVERLAY="${OVERLAY:-prod}"
GCLOUD="${GCLOUD:-gcloud}"
KUBECTL="${KUBECTL:-kubectl}"
KUSTOMIZE_DIR="$HERE/kubernetes"
ROLLOUT_TIMEOUT=5m

args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --project) PROJECT_ID="${2:?--project needs a value}"; shift 2 ;;
        --location) LOCATION="${2:?--location needs a value}"; shift 2 ;;
        --cluster) CLUSTER="${2:?--cluster needs a value}"; shift 2 ;;
        --overlay) OVERLAY="${2:?--overlay needs a value}"; shift 2 ;;
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
[[ "$LOCATION" =~ ^[a-z]+-[a-z]+[0-9](-[a-z])?$ ]] || die "invalid location '$LOCATION' (a region or a zone)"
[[ "$CLUSTER" =~ ^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$ ]] || die "invalid cluster name '$CLUSTER'"
case "$OVERLAY" in
    dev) NAMESPACE=bankrisk-dev ;;
    prod) NAMESPACE=bankrisk ;;
    *) die "unknown overlay '$OVERLAY' (dev, prod)" ;;
esac
NS=(--namespace "$NAMESPACE")

# IMAGE is a registry path with a tag or a digest; prod takes only a digest.
check_image() {
    local ref='^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$'
    [[ "$1" =~ $ref && "$1" =~ [:@][^/]*$ ]] || die "invalid image '$1' (REGISTRY/PATH:TAG or REGISTRY/PATH@sha256:DIGEST)"
    if [[ "$OVERLAY" == prod && ! "$1" =~ @sha256:[0-9a-f]{64}$ ]]; then
        die "prod runs images by digest only: give IMAGE@sha256:..., not '$1'"
    fi
}

credentials() {
    run "$GCLOUD" container clusters get-credentials "$CLUSTER" --project "$PROJECT_ID" \
        --location "$LOCATION"
}

# Secret Manager secret -> Kubernetes Secret KEY, through a pipe (no file, no argument).
sync_secret() {
    local name="$1" key="$2"
    local read=("$GCLOUD" secrets versions access latest "--secret=$name" "--project=$PROJECT_ID")
    local make=("$KUBECTL" create secret generic "$name" "${NS[@]}" "--from-file=$key=/dev/stdin"
        --dry-run=client --output=yaml)
    local write=("$KUBECTL" apply "${NS[@]}" --filename=-)
    if [[ "$DRY_RUN" == 1 ]]; then
        echo "$(run "${read[@]}") | $(run "${make[@]}") | $(run "${write[@]}")"
    else
        "${read[@]}" | "${make[@]}" | "${write[@]}"
    fi
}

# A kustomization (under TMPDIR) of the overlay with IMAGE in both tracks and the project's
# Workload Identity account; prints its directory.
release_kustomization() {
    local image="$1" dir overlay
    dir="${RENDER_DIR:-${TMPDIR:-/tmp}}/bankrisk-gke-$OVERLAY"
    mkdir -p "$dir"
    overlay="$(python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' \
        "$KUSTOMIZE_DIR/overlays/$OVERLAY" "$dir")"
    cat >"$dir/kustomization.yaml" <<EOF
# Written by deploy/gke.sh: the $OVERLAY overlay with this release's image and project.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $overlay
patches:
  - target:
      kind: Deployment
      labelSelector: app=bankrisk
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/image
        value: $image
  - target:
      kind: ServiceAccount
      name: bankrisk
    patch: |-
      - op: replace
        path: /metadata/annotations/iam.gke.io~1gcp-service-account
        value: bankrisk-gke@$PROJECT_ID.iam.gserviceaccount.com
EOF
    echo "$dir"
}

# The stable Deployment's replicas now; in a dry run, the overlay's minimum (no cluster).
stable_replicas() {
    if [[ "$DRY_RUN" == 1 ]]; then
        "$KUBECTL" kustomize "$KUSTOMIZE_DIR/overlays/$OVERLAY" |
            awk '/^kind: HorizontalPodAutoscaler/ { h = 1 } h && /minReplicas:/ { print $2; exit }'
    else
        "$KUBECTL" get deployment bankrisk "${NS[@]}" --output=jsonpath='{.spec.replicas}'
    fi
}

apply_release() {
    local image="$1" dir
    credentials
    run "$KUBECTL" apply --filename="$KUSTOMIZE_DIR/overlays/$OVERLAY/namespace.yaml"
    sync_secret bankrisk-api-keys api-keys
    if [[ "$OVERLAY" == prod ]]; then sync_secret bankrisk-prediction-log url; fi
    dir="$(release_kustomization "$image")"
    run "$KUBECTL" apply --kustomize="$dir"
    run "$KUBECTL" rollout status deployment/bankrisk "${NS[@]}" --timeout="$ROLLOUT_TIMEOUT"
}

case "$cmd" in
    apply)
        [[ $# -eq 1 ]] || die "usage: apply IMAGE"
        check_image "$1"
        apply_release "$1"
        ;;
    canary)
        [[ $# -eq 2 ]] || die "usage: canary IMAGE PERCENT"
        check_image "$1"
        [[ "$2" =~ ^([1-9]|[1-4][0-9]|50)$ ]] || die "PERCENT must be an integer from 1 to 50, got '$2'"
        credentials
        stable="$(stable_replicas)"
        [[ "$stable" =~ ^[1-9][0-9]*$ ]] || die "cannot read the stable Deployment's replicas (got '$stable')"
        # The canary's pods p of all: c / (c + s) = p, so c = s p / (100 - p), at least 1.
        pods=$(( (stable * $2 + (100 - $2) / 2) / (100 - $2) ))
        pods=$(( pods < 1 ? 1 : pods ))
        echo "$PROG: canary: $pods pod(s) beside $stable stable ones, $(( 100 * pods / (pods + stable) ))% of the traffic" >&2
        run "$KUBECTL" set image deployment/bankrisk-canary "api=$1" "${NS[@]}"
        run "$KUBECTL" scale deployment/bankrisk-canary "--replicas=$pods" "${NS[@]}"
        run "$KUBECTL" rollout status deployment/bankrisk-canary "${NS[@]}" --timeout="$ROLLOUT_TIMEOUT"
        ;;
    promote)
        [[ $# -eq 1 ]] || die "usage: promote IMAGE"
        check_image "$1"
        if [[ "$DRY_RUN" != 1 ]]; then
            credentials
            running="$("$KUBECTL" get deployment bankrisk-canary "${NS[@]}" \
                --output=jsonpath='{.spec.template.spec.containers[0].image}')"
            [[ "$running" == "$1" ]] || die "the canary runs '$running', not '$1'"
        fi
        apply_release "$1"
        ;;
    rollback)
        [[ $# -eq 0 ]] || die "usage: rollback"
        credentials
        run "$KUBECTL" scale deployment/bankrisk-canary --replicas=0 "${NS[@]}"
        ;;
    status)
        [[ $# -eq 0 ]] || die "usage: status"
        credentials
        run "$KUBECTL" get deployments,horizontalpodautoscalers,pods --selector=app=bankrisk \
            "${NS[@]}" --output=wide
        ;;
    *)
        die "unknown command '$cmd' (apply, canary, promote, rollback, status)"
        ;;
esac

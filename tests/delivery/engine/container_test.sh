#!/usr/bin/env bash
# Build the real Dockerfile on a private Docker engine, run the image on 127.0.0.1 and check
# that it serves: /ready, a prediction equal to the bundle's own score, a non-root process,
# no training stack or compilers inside. Then stop everything it started, even on failure.
#
#   tests/delivery/engine/container_test.sh [--bundle DIR] [--report FILE.json] [--base auto|pull|standin] [--console]
#
# --console builds the image with the analyst console (`--build-arg CONSOLE=true`: pandas and
# Feast inside, so only TensorFlow, MLflow, LightGBM and pip are refused) and also checks that
# `bankrisk console` from that image answers its sign-in page beside the API.
#
# Works on any Linux machine, with or without a Docker service (it never uses a running one).
# Needs root, dockerd (Debian's docker.io or Docker's), a BuildKit-capable docker client and
# debootstrap (`make system-deps` installs what is missing). The engine is private: its own
# socket, data and exec roots in a work dir under ${TMPDIR:-/tmp}, no bridge, no iptables; it
# is stopped by PID. The base image is the real python:3.11-slim when it can be pulled, else a
# local stand-in made with debootstrap (Debian bookworm's Python 3.11), cached as a tarball in
# $BANKRISK_ROOTFS_CACHE (default /var/cache/bankrisk-rootfs) between runs.
# Only 127.0.0.1 is ever contacted: the container shares the host network and binds 127.0.0.1.
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
HERE="$REPO/tests/delivery/engine"
VENV="${VENV:-$REPO/.venv}"
HOST_PY="${HOST_PY:-$VENV/bin/python}"
IMAGE="${IMAGE:-bankrisk:container-test}"
BASE_MODE="auto"
BUNDLE=""
REPORT=""
CONSOLE=false
READY_TIMEOUT="${READY_TIMEOUT:-90}"

while [[ $# -gt 0 ]]; do
    case "$1" in
        --bundle) BUNDLE="$2"; shift 2 ;;
        --report) REPORT="$2"; shift 2 ;;
        --base) BASE_MODE="$2"; shift 2 ;;
        --console) CONSOLE=true; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

log() { printf '[container-test %5ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (a private dockerd); run it as root or with sudo"
command -v dockerd >/dev/null || die "dockerd not found: run 'make system-deps'"
# shellcheck source=tests/delivery/engine/engine-lib.sh
source "$HERE/engine-lib.sh"
DOCKER="$(pick_docker)"
[[ -x "$DOCKER" ]] || die "no docker client: run 'make system-deps'"
[[ -x "$HOST_PY" ]] || die "no host venv python at $HOST_PY (make install)"

W="$(mktemp -d "${TMPDIR:-/tmp}/bankrisk-ct.XXXXXX")"
DOCKERD_PID=""
CID=""

cleanup() {
    local rc=$?
    set +e
    if [[ -n "$CID" ]]; then
        if [[ $rc -ne 0 ]]; then
            log "container logs:"; "$DOCKER" logs --tail 80 "$CID" 2>&1 | sed 's/^/    /' >&2
        fi
        "$DOCKER" rm -f "$CID" >/dev/null 2>&1
    fi
    if [[ $rc -ne 0 && -f "$W/dockerd.log" ]]; then
        log "dockerd log (tail):"; tail -n 8 "$W/dockerd.log" | cut -c1-240 | sed 's/^/    /' >&2
    fi
    engine_stop "$W" "$DOCKERD_PID"
    rm -rf "$W"
    if [[ $rc -eq 0 ]]; then log "PASS"; else log "FAILED (exit $rc); cleaned up"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the bundle to bake ---------------------------------------------------------------------
if [[ -z "$BUNDLE" ]]; then
    if [[ -f "$REPO/models/champion/metadata.json" ]]; then
        BUNDLE="$REPO/models/champion"
    else
        BUNDLE="$W/bundle"
        log "no models/champion: writing a synthetic demo bundle"
        "$HOST_PY" "$REPO/deploy/demo_bundle.py" "$BUNDLE" >/dev/null
    fi
fi
[[ -f "$BUNDLE/metadata.json" && -f "$BUNDLE/model.npz" ]] || die "not a bundle: $BUNDLE"
MODEL_VERSION="$("$HOST_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$BUNDLE/metadata.json")"

# --- build context: the work tree (less local state) + the bundle; the REAL .dockerignore
# is then applied by the engine itself.
log "assembling the build context"
mkdir -p "$W/context"
tar -C "$REPO" -c \
    --exclude=./.git --exclude=./.venv --exclude=./.tools --exclude=./mlruns \
    --exclude=./mlartifacts --exclude=./mlflow.db --exclude=./data --exclude=./reports \
    --exclude=./models --exclude='*/__pycache__' --exclude=./.mypy_cache \
    --exclude=./.pytest_cache --exclude=./.ruff_cache . | tar -C "$W/context" -x
mkdir -p "$W/context/models"
cp -r "$BUNDLE" "$W/context/models/champion"

# --- private engine and base image ---------------------------------------------------------
log "starting a private dockerd in $W"
engine_start "$W"
log "engine up: $("$DOCKER" version --format '{{.Server.Version}}')"
ensure_base "$BASE_MODE" "$W"
log "base: $BASE_KIND"

# --- build ---------------------------------------------------------------------------------
log "building $IMAGE (model version $MODEL_VERSION)"
build_start=$SECONDS
DOCKER_BUILDKIT=1 "$DOCKER" build --network host --progress plain \
    --build-arg "MODEL_VERSION=$MODEL_VERSION" --build-arg "CONSOLE=$CONSOLE" \
    --build-arg "REVISION=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)" \
    -t "$IMAGE" "$W/context" >"$W/build.log" 2>&1 \
    || { tail -n 40 "$W/build.log" >&2; die "docker build failed"; }
BUILD_SECONDS=$((SECONDS - build_start))
SIZE_BYTES="$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")"
BASE_BYTES="$("$DOCKER" image inspect -f '{{.Size}}' python:3.11-slim)"
log "built in ${BUILD_SECONDS}s, image size $((SIZE_BYTES / 1000000)) MB (base $((BASE_BYTES / 1000000)) MB + $(((SIZE_BYTES - BASE_BYTES) / 1000000)) MB)"

# --- static facts about the image ----------------------------------------------------------
USER_CFG="$("$DOCKER" image inspect -f '{{.Config.User}}' "$IMAGE")"
[[ -n "$USER_CFG" && "${USER_CFG%%:*}" != 0 && "${USER_CFG%%:*}" != root ]] \
    || die "image USER is '$USER_CFG' (must be non-root)"
"$DOCKER" image inspect -f '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q '/ready' \
    || die "image has no HEALTHCHECK on /ready"
LABEL_MV="$("$DOCKER" image inspect -f '{{index .Config.Labels "io.bankrisk.model.version"}}' "$IMAGE")"
[[ "$LABEL_MV" == "$MODEL_VERSION" ]] || die "model version label '$LABEL_MV' != '$MODEL_VERSION'"
"$DOCKER" run --rm --network none --entrypoint python "$IMAGE" -c '
import importlib.util, shutil, sys
bad = [m for m in ("tensorflow", "mlflow", "lightgbm", "pip") if importlib.util.find_spec(m)]
if sys.argv[1] != "true":  # the console image carries pandas and scikit-learn (monitoring)
    bad += [m for m in ("sklearn", "pandas") if importlib.util.find_spec(m)]
tools = [t for t in ("gcc", "cc", "c++", "make", "apt-get-never") if shutil.which(t)]
sys.exit(f"training stack or tools in the image: {bad + tools}" if bad or tools else 0)
' "$CONSOLE" || die "the image holds what it must not"
# shellcheck disable=SC2016  # expanded by the shell inside the container
"$DOCKER" run --rm --network none --entrypoint sh "$IMAGE" -c \
    'test -z "$(find / -xdev \( -name "mlflow.db" -o -name "mlruns" -o -name "*.xls" -o -name "default_of_credit_card*" \) -print -quit 2>/dev/null)"' \
    || die "the image holds data or an MLflow store"

# --- run it on 127.0.0.1 -------------------------------------------------------------------------
PORT="$("$HOST_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log "starting the container on 127.0.0.1:$PORT"
run_start=$(date +%s.%N)
CID="$("$DOCKER" run -d --network host -e "PORT=$PORT" \
    --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    "$IMAGE" --model-dir /app/model --host 127.0.0.1)"

"$HOST_PY" - "$PORT" "$READY_TIMEOUT" "$W/ready_seconds" "$run_start" "$DOCKER" "$CID" <<'PY' \
    || die "/ready never answered 200"
import subprocess, sys, time, urllib.error, urllib.request
port, timeout, out, start, docker, cid = sys.argv[1:]
deadline = time.time() + float(timeout)
while time.time() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:
            if r.status == 200:
                open(out, "w").write(f"{time.time() - float(start):.2f}")
                sys.exit(0)
    except (urllib.error.URLError, ConnectionError, OSError):
        pass
    state = subprocess.run([docker, "inspect", "-f", "{{.State.Running}}", cid],
                           capture_output=True, text=True).stdout.strip()
    if state != "true":
        sys.exit("the container exited")
    time.sleep(0.2)
sys.exit("timed out")
PY
READY_SECONDS="$(cat "$W/ready_seconds")"
log "ready after ${READY_SECONDS}s (docker run to /ready 200)"

# The process inside runs as non-root (read its real uid from /proc, not the exec user).
PROC_UID="$("$DOCKER" exec "$CID" sh -c "awk '/^Uid:/ {print \$2}' /proc/1/status")"
[[ "$PROC_UID" =~ ^[0-9]+$ && "$PROC_UID" -ne 0 ]] || die "PID 1 runs as uid '$PROC_UID'"
log "server process uid: $PROC_UID"

# The image's own HEALTHCHECK command passes.
HC="$("$DOCKER" image inspect -f '{{json .Config.Healthcheck.Test}}' "$IMAGE")"
"$HOST_PY" -c 'import json,sys; t=json.loads(sys.argv[1]); assert t[0]=="CMD"; print("\0".join(t[1:]), end="")' "$HC" \
    | xargs -0 "$DOCKER" exec "$CID" || die "the HEALTHCHECK command failed"

# With --console: the console from the same image, beside the API.
if [[ "$CONSOLE" == true ]]; then
    CPORT="$("$HOST_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    CCID="$("$DOCKER" run -d --network host -e BANKRISK_CONSOLE_KEY=container-test \
        --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
        --entrypoint bankrisk "$IMAGE" console --model-dir /app/model --host 127.0.0.1 --port "$CPORT")"
    "$HOST_PY" - "$CPORT" "$READY_TIMEOUT" <<'PY' || { "$DOCKER" logs "$CCID" >&2; "$DOCKER" rm -f "$CCID" >/dev/null; die "the console never showed its sign-in page"; }
import sys, time, urllib.request
port, timeout = sys.argv[1:]
deadline = time.time() + float(timeout)
while time.time() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/sign-in", timeout=2) as r:
            if r.status == 200 and "Console key" in r.read().decode():
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.5)
sys.exit("timed out")
PY
    "$DOCKER" rm -f "$CCID" >/dev/null
    log "the console from the same image shows its sign-in page"
fi

# A customer: the API's probability_of_default must equal the bundle's own score on the host.
"$HOST_PY" - "$PORT" "$BUNDLE" <<'PY' || die "prediction check failed"
import json, sys, urllib.request
import numpy as np
from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.schema import FIELD_NAMES
port, bundle_dir = sys.argv[1:]
customer = dict(zip(FIELD_NAMES, [
    200000, 2, 2, 1, 35, 2, 2, 0, 0, -1, -1,
    150000, 120000, 90000, 60000, 30000, 1500,
    5000, 4000, 3000, 2000, 1000, 500], strict=True))
expected = float(ModelBundle.load(bundle_dir).predict_pd(
    np.array([[customer[f] for f in FIELD_NAMES]], dtype=float))[0])
req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/predict", data=json.dumps(customer).encode(),
                             headers={"Content-Type": "application/json"}, method="POST")
with urllib.request.urlopen(req, timeout=10) as r:
    body = json.loads(r.read())
got = body.get("probability_of_default")
if got is None and isinstance(body.get("predictions"), list):
    got = body["predictions"][0].get("probability_of_default")
print(f"probability_of_default: api={got} bundle={expected}", file=sys.stderr)
assert got is not None, f"no probability_of_default in {body}"
assert abs(float(got) - expected) <= 1e-9 * max(1.0, abs(expected)), (got, expected)
PY

# Graceful stop: SIGTERM reaches the server (PID 1) and it exits 0 in time.
stop_start=$SECONDS
"$DOCKER" stop -t 15 "$CID" >/dev/null
EXIT_CODE="$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$CID")"
log "stopped in $((SECONDS - stop_start))s with exit code $EXIT_CODE"
[[ "$EXIT_CODE" == 0 ]] || die "the server did not exit cleanly on SIGTERM (exit $EXIT_CODE)"

if [[ -n "$REPORT" ]]; then
    "$HOST_PY" - "$REPORT" <<PY
import json, sys
json.dump({"base": "$BASE_KIND", "image_size_bytes": $SIZE_BYTES, "base_size_bytes": $BASE_BYTES, "build_seconds": $BUILD_SECONDS,
           "ready_seconds": $READY_SECONDS, "model_version": "$MODEL_VERSION", "server_uid": $PROC_UID},
          open(sys.argv[1], "w"), indent=2)
PY
fi
log "image $IMAGE: $((SIZE_BYTES / 1000000)) MB, build ${BUILD_SECONDS}s, ready ${READY_SECONDS}s"

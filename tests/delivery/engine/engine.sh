#!/usr/bin/env bash
# A private Docker engine that stays up between commands, for `make image` on a machine that has
# the Docker binaries but no Docker service running (a CI container, a build sandbox, a VM
# without systemd). Root only. Test support: nothing that deploys depends on it.
#
#   tests/delivery/engine/engine.sh up      start it (if not running), load the base image; prints DOCKER_HOST
#   tests/delivery/engine/engine.sh env     print `export DOCKER_HOST=...` if it is running
#   tests/delivery/engine/engine.sh down    stop it by PID and delete its work dir (images go with it)
#
# Work dir: $BANKRISK_ENGINE_DIR (default ${TMPDIR:-/tmp}/bankrisk-engine). The container test
# does not use it: container_test.sh (beside this file) starts and stops its own engine.
set -Eeuo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${BANKRISK_ENGINE_DIR:-${TMPDIR:-/tmp}/bankrisk-engine}"
log() { printf '[engine] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=tests/delivery/engine/engine-lib.sh
source "$HERE/engine-lib.sh"
DOCKER="$(pick_docker)"

running() { [[ -f "$DIR/dockerd.pid" ]] && kill -0 "$(cat "$DIR/dockerd.pid")" 2>/dev/null; }

case "${1:-}" in
    up)
        [[ $(id -u) -eq 0 ]] || die "needs root"
        if running; then
            export DOCKER_HOST="unix://$DIR/docker.sock"
        else
            log "starting a private dockerd in $DIR"
            engine_start "$DIR"
            disown "$DOCKERD_PID" 2>/dev/null || true
        fi
        ensure_base "${BASE_MODE:-auto}" "$DIR"
        log "base: $BASE_KIND"
        echo "export DOCKER_HOST=unix://$DIR/docker.sock"
        ;;
    env)
        running && echo "export DOCKER_HOST=unix://$DIR/docker.sock"
        ;;
    down)
        if running; then engine_stop "$DIR" "$(cat "$DIR/dockerd.pid")"; fi
        engine_stop "$DIR" ""
        rm -rf "$DIR"
        log "stopped"
        ;;
    *)
        sed -n '2,11p' "$0" >&2; exit 2 ;;
esac

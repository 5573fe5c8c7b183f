#!/usr/bin/env bash
# A private Docker engine that stays up between commands, for `make image` on a machine with
# no Docker service (like the dev machines and CI here). Root only.
#
#   deploy/engine.sh up      start it (if not running) and load the base image; prints DOCKER_HOST
#   deploy/engine.sh env     print `export DOCKER_HOST=...` if it is running
#   deploy/engine.sh down    stop it by PID and delete its work dir (images go with it)
#
# Work dir: $BANKRISK_ENGINE_DIR (default ${TMPDIR:-/tmp}/bankrisk-engine). The test suite does
# not use it: deploy/container_test.sh starts and stops its own engine.
set -Eeuo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${BANKRISK_ENGINE_DIR:-${TMPDIR:-/tmp}/bankrisk-engine}"
log() { printf '[engine] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=deploy/engine-lib.sh
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
        sed -n '2,10p' "$0" >&2; exit 2 ;;
esac

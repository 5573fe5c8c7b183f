#!/usr/bin/env bash
# `make monitoring-up`: the API with Prometheus (rules and alerts loaded), Alertmanager and,
# where a Grafana binary is installed, Grafana with the bankrisk dashboard; all on 127.0.0.1,
# until Ctrl-C.
#
# Environment: MODEL_DIR (models/champion), PORT (API, 8000), PROMETHEUS_PORT (9090),
# ALERTMANAGER_PORT (9093), GRAFANA_PORT (3000), SCRAPE_INTERVAL (15s, also the rule evaluation
# interval), STATE_DIR ($TMPDIR/bankrisk-monitoring: their data, the generated configuration),
# BANKRISK (.venv/bin/bankrisk), PROMETHEUS (prometheus), ALERTMANAGER
# (prometheus-alertmanager), GRAFANA (grafana). Debian's prometheus and prometheus-alertmanager
# packages provide the first two (`make system-deps`); Grafana is not in Debian: without it the
# dashboard is in docker-compose.yml.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$HERE/../lib.sh"
MODEL_DIR="${MODEL_DIR:-models/champion}"
PORT="${PORT:-8000}"
PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
ALERTMANAGER_PORT="${ALERTMANAGER_PORT:-9093}"
GRAFANA_PORT="${GRAFANA_PORT:-3000}"
SCRAPE_INTERVAL="${SCRAPE_INTERVAL:-15s}"
STATE_DIR="${STATE_DIR:-${TMPDIR:-/tmp}/bankrisk-monitoring}"
BANKRISK="${BANKRISK:-.venv/bin/bankrisk}"
PROMETHEUS="${PROMETHEUS:-prometheus}"
ALERTMANAGER="${ALERTMANAGER:-prometheus-alertmanager}"
GRAFANA="${GRAFANA:-grafana}"
PROG=monitoring-up  # the prefix of its messages (and of `die`)

for port in "$PORT" "$PROMETHEUS_PORT" "$ALERTMANAGER_PORT" "$GRAFANA_PORT"; do
    if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then die "invalid port '$port'"; fi
done
[[ "$SCRAPE_INTERVAL" =~ ^[0-9]+(ms|s|m)$ ]] || die "invalid SCRAPE_INTERVAL '$SCRAPE_INTERVAL' (e.g. 15s)"
[[ -f "$MODEL_DIR/manifest.json" ]] || die "no bundle in $MODEL_DIR: run \`make train\` (or set MODEL_DIR)"
command -v "$PROMETHEUS" >/dev/null || die "$PROMETHEUS not found: \`make system-deps\` installs Debian's prometheus"
[[ -x "$BANKRISK" ]] || command -v "$BANKRISK" >/dev/null || die "$BANKRISK not found: run \`make install\`"

mkdir -p "$STATE_DIR/prometheus"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"

# The repository's prometheus.yml with this run's ports, interval and absolute rule paths.
sed -e "s|127\.0\.0\.1:8000|127.0.0.1:$PORT|" \
    -e "s|127\.0\.0\.1:9093|127.0.0.1:$ALERTMANAGER_PORT|" \
    -e "s|^\(  [a-z_]*_interval:\) 15s|\1 $SCRAPE_INTERVAL|" \
    -e "s|^  - rules/|  - $HERE/rules/|" \
    "$HERE/prometheus.yml" >"$STATE_DIR/prometheus.yml"

# The alerts page of the Prometheus that runs, once it answers: Debian's 2.x build serves only
# the classic pages (/alerts is a 404 there, /classic/alerts works); other builds serve /alerts.
alerts_page() {
    "$(dirname "$BANKRISK")/python" - "$1" <<'PY'
import sys, time, urllib.error, urllib.request
base = sys.argv[1]
deadline = time.time() + 60
while time.time() < deadline:
    for path in ("/alerts", "/classic/alerts"):
        try:
            with urllib.request.urlopen(base + path, timeout=2) as answer:
                if answer.status == 200:
                    print(base + path)
                    sys.exit(0)
        except urllib.error.HTTPError:
            continue  # not this build's page: try the other
        except OSError:
            break  # not answering yet
    time.sleep(0.3)
print(f"{base} (no alerts page answered)")
PY
}

pids=()
stop() {
    trap - INT TERM EXIT
    # Stop only what this script started: the children, by process id.
    ((${#pids[@]} == 0)) || kill -TERM "${pids[@]}" 2>/dev/null || true
    wait || true
}
trap stop EXIT
trap 'exit 0' INT TERM

"$BANKRISK" serve --model-dir "$MODEL_DIR" --host 127.0.0.1 --port "$PORT" &
pids+=($!)
"$PROMETHEUS" --config.file="$STATE_DIR/prometheus.yml" \
    --storage.tsdb.path="$STATE_DIR/prometheus" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
    --log.level=warn &
pids+=($!)
echo "$PROG: API http://127.0.0.1:$PORT/docs, Prometheus $(alerts_page "http://127.0.0.1:$PROMETHEUS_PORT")" >&2

if command -v "$ALERTMANAGER" >/dev/null; then
    mkdir -p "$STATE_DIR/alertmanager"
    "$ALERTMANAGER" --config.file="$HERE/alertmanager.yml" \
        --storage.path="$STATE_DIR/alertmanager" \
        --web.listen-address="127.0.0.1:$ALERTMANAGER_PORT" \
        --cluster.listen-address= \
        --log.level=warn &
    pids+=($!)
    echo "$PROG: Alertmanager http://127.0.0.1:$ALERTMANAGER_PORT" >&2
else
    echo "$PROG: no Alertmanager ($ALERTMANAGER): alerts show in Prometheus only" >&2
fi

if command -v "$GRAFANA" >/dev/null; then
    mkdir -p "$STATE_DIR/grafana"
    DASHBOARDS_DIR="$HERE/grafana/dashboards" \
        GF_PATHS_PROVISIONING="$HERE/grafana/provisioning" \
        GF_PATHS_DATA="$STATE_DIR/grafana" \
        GF_SERVER_HTTP_ADDR=127.0.0.1 \
        GF_SERVER_HTTP_PORT="$GRAFANA_PORT" \
        GF_AUTH_ANONYMOUS_ENABLED=true \
        "$GRAFANA" server --homepath "${GRAFANA_HOME:-/usr/share/grafana}" &
    pids+=($!)
    echo "$PROG: Grafana http://127.0.0.1:$GRAFANA_PORT (dashboard 'bankrisk: operations')" >&2
else
    echo "$PROG: no Grafana binary ($GRAFANA): the dashboard runs with docker compose -f deploy/monitoring/docker-compose.yml up" >&2
fi

# Until Ctrl-C, or until one of them exits.
wait -n

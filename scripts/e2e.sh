#!/usr/bin/env bash
# End-to-end proof that the exporter, the alert rules and the dashboards fit:
#  1. build the exporter and start it with -demo on a free loopback port, with basic
#     auth and roles as deploy/compose sets them (deploy/compose/web-config.yml:
#     prometheus scrapes, grafana reads member data, operator may also sync)
#     (or use a running one: EXPORTER_URL=http://127.0.0.1:PORT scripts/e2e.sh, with
#     SCRAPE_USER/SCRAPE_PASSWORD and MEMBER_USER/MEMBER_PASSWORD if it asks for them),
#  2. wait for /readyz, run `promtool check metrics` on /metrics (must print nothing),
#  3. start a real Prometheus scraping it every second with deploy/prometheus/alerts.yml,
#  4. evaluate every panel query of every dashboard and every alert expression
#     through Prometheus' HTTP API (scripts/dashq), failing on errors and on panels
#     without data, and fetch every member table's query (Infinity data source) from
#     the exporter as the grafana user, with every variable All and then one real
#     value per variable, failing unless the rows have every column the panel uses.
# Needs go, curl, prometheus and promtool. Every wait is bounded; everything started
# here is stopped on exit.
set -euo pipefail
export GOTOOLCHAIN=local

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
READY_TIMEOUT="${READY_TIMEOUT:-60}"   # seconds for the exporter's first refresh
SCRAPES="${SCRAPES:-5}"                # successful scrapes before querying
# Regexp on "file: panel title" of panels allowed to have no data, e.g.
# DASHQ_ALLOW_EMPTY='exporter-health.json: Employers merged'. Empty: none.
DASHQ_ALLOW_EMPTY="${DASHQ_ALLOW_EMPTY:-}"

tmp="$(mktemp -d)"
pids=()
auth_args=()

cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ]; then
    for log in "$tmp"/*.log; do
      [ -s "$log" ] || continue
      echo "---- last lines of $(basename "$log")" >&2
      tail -n 30 "$log" >&2
    done
    echo "e2e: FAILED" >&2
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { echo "==> $*"; }

free_port() {
  local p
  for _ in $(seq 1 100); do
    # Below 32768, outside Linux's ephemeral range, so that a port picked here
    # is not handed to some :0 listener (the demo's fake Intercom) meanwhile.
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "e2e: no free port found" >&2
  return 1
}

# wait_http URL TIMEOUT NAME [PID]: until URL answers 2xx, the deadline passes or
# the process dies.
wait_http() {
  local url=$1 timeout=$2 name=$3 pid=${4:-}
  local deadline=$((SECONDS + timeout))
  until curl -fsS "${auth_args[@]}" -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "e2e: $name exited before $url answered" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "e2e: $name: no answer from $url within ${timeout}s" >&2
      return 1
    fi
    sleep 1
  done
}

for tool in go curl prometheus promtool; do
  command -v "$tool" >/dev/null || { echo "e2e: $tool is not installed" >&2; exit 1; }
done

step "building scripts/dashq"
go build -o "$tmp/dashq" ./scripts/dashq

if [ -n "${EXPORTER_URL:-}" ]; then
  step "using the exporter at $EXPORTER_URL"
  target="${EXPORTER_URL#*://}"
  target="${target%%/*}"
  exporter_pid=""
  SCRAPE_USER="${SCRAPE_USER:-}" SCRAPE_PASSWORD="${SCRAPE_PASSWORD:-}"
  MEMBER_USER="${MEMBER_USER:-}" MEMBER_PASSWORD="${MEMBER_PASSWORD:-}"
else
  step "building the exporter"
  go build -o "$tmp/intercom_exporter" .
  port="$(free_port)"
  target="127.0.0.1:$port"
  EXPORTER_URL="http://$target"
  # The users and roles of the compose stack (demo passwords).
  SCRAPE_USER=prometheus SCRAPE_PASSWORD=prometheus-demo
  MEMBER_USER=grafana MEMBER_PASSWORD=grafana-demo
  step "starting intercom_exporter -demo on $target (basic auth: deploy/compose/web-config.yml)"
  LISTEN_ADDRESS="$target" WEB_CONFIG_FILE="$root/deploy/compose/web-config.yml" \
    MEMBER_USERS=grafana,operator SYNC_USERS=operator \
    "$tmp/intercom_exporter" -demo >"$tmp/exporter.log" 2>&1 &
  exporter_pid=$!
  pids+=("$exporter_pid")
fi
if [ -n "$SCRAPE_USER" ]; then
  auth_args=(-u "$SCRAPE_USER:$SCRAPE_PASSWORD")
fi

step "waiting for $EXPORTER_URL/readyz (at most ${READY_TIMEOUT}s)"
wait_http "$EXPORTER_URL/healthz" "$READY_TIMEOUT" exporter "$exporter_pid"
wait_http "$EXPORTER_URL/readyz" "$READY_TIMEOUT" exporter "$exporter_pid"

# The demo runs the engagement sync right after the first refresh: wait until its
# metrics are out too, so that the health dashboard has something to show.
step "waiting for the first successful sync in /metrics (at most ${READY_TIMEOUT}s)"
deadline=$((SECONDS + READY_TIMEOUT))
for metric in intercom_refresh_last_success_timestamp_seconds intercom_sync_last_success_timestamp_seconds; do
  until curl -fsS "${auth_args[@]}" --max-time 10 -o "$tmp/metrics.txt" "$EXPORTER_URL/metrics" 2>/dev/null &&
    grep -q "^$metric " "$tmp/metrics.txt"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "e2e: $metric did not appear in /metrics within ${READY_TIMEOUT}s" >&2
      exit 1
    fi
    sleep 1
  done
done

step "promtool check metrics on /metrics"
curl -fsS "${auth_args[@]}" --max-time 10 "$EXPORTER_URL/metrics" >"$tmp/metrics.txt"
if ! lint="$(promtool check metrics <"$tmp/metrics.txt" 2>&1)" || [ -n "$lint" ]; then
  echo "promtool check metrics reported:" >&2
  echo "$lint" >&2
  exit 1
fi
echo "    clean ($(grep -vc '^#' "$tmp/metrics.txt") samples)"

pport="$(free_port)"
prom="http://127.0.0.1:$pport"
cat >"$tmp/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $root/deploy/prometheus/alerts.yml
scrape_configs:
  - job_name: intercom_exporter
    static_configs:
      - targets: ["$target"]
YAML
if [ -n "$SCRAPE_USER" ]; then
  printf '%s' "$SCRAPE_PASSWORD" >"$tmp/scrape-password"
  cat >>"$tmp/prometheus.yml" <<YAML
    basic_auth:
      username: "$SCRAPE_USER"
      password_file: "$tmp/scrape-password"
YAML
fi
step "starting Prometheus on 127.0.0.1:$pport (scrape every 1s, alert rules loaded)"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$pport" >"$tmp/prometheus.log" 2>&1 &
prom_pid=$!
pids+=("$prom_pid")
wait_http "$prom/-/ready" 30 prometheus "$prom_pid"

printf '%s' "$MEMBER_PASSWORD" >"$tmp/member-password"
step "evaluating every dashboard query and alert expression (after $SCRAPES scrapes), and every member table as ${MEMBER_USER:-no user}"
"$tmp/dashq" -prometheus "$prom" -dashboards dashboards -rules deploy/prometheus/alerts.yml \
  -wait-scrapes "$SCRAPES" -wait-timeout 60s -rate-interval 1m -interval 15s -range 5m \
  -allow-empty "$DASHQ_ALLOW_EMPTY" \
  -exporter "$EXPORTER_URL" -user "$MEMBER_USER" -password-file "$tmp/member-password"

step "e2e: OK"

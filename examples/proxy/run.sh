#!/usr/bin/env bash
# Starts a backend, the fault proxy in front of it and a storefront that
# calls the backend through the proxy; runs the experiment; stops them all.
#   examples/proxy/run.sh            # 250ms of latency: deviates (exit 1)
#   LATENCY=20ms examples/proxy/run.sh   # holds (exit 0)
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FAULTLINE:-bin/faultline}
[ -x "$bin" ] || go build -o bin/faultline ./cmd/faultline
export LATENCY=${LATENCY:-250ms}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
"$bin" demo serve backend --addr 127.0.0.1:19101 & pids+=($!)
"$bin" proxy --config examples/proxy/proxies.json & pids+=($!)
"$bin" demo serve frontend --addr 127.0.0.1:18080 --backends 127.0.0.1:19001 --no-retry & pids+=($!)
for i in $(seq 50); do curl -fs http://127.0.0.1:18080/ >/dev/null && break; sleep 0.1; done
"$bin" run examples/proxy/backend-latency.yaml --journal "${JOURNAL:-out/proxy-journal.json}" --report "${REPORT:-out/proxy-report.html}"

#!/usr/bin/env bash
# Starts a backend and a storefront that calls it through 127.0.0.1:19001,
# where the experiment's own fault proxy (spec.proxies) listens while it
# runs; runs the experiment; stops them all.
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
"$bin" demo serve frontend --addr 127.0.0.1:18080 --backends 127.0.0.1:19001 --no-retry & pids+=($!)
# Until the experiment's proxy is up the storefront answers 502: any answer
# means it is listening.
for url in http://127.0.0.1:19101/ http://127.0.0.1:18080/; do
  for i in $(seq 50); do curl -s -o /dev/null "$url" && break; sleep 0.1; done
done
"$bin" run examples/proxy/backend-latency.yaml --journal "${JOURNAL:-out/proxy-journal.json}" --report "${REPORT:-out/proxy-report.html}"

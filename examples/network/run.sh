#!/usr/bin/env bash
# Delay between two namespaced services, and the caller's timeout.
#
# Makes two network namespaces joined by a veth pair — flt-ex-front
# (10.251.0.1, the storefront frontend on 127.0.0.1:8080) and flt-ex-back
# (10.251.0.2, its one backend on :9001) — then runs, from inside the
# frontend's namespace, two experiments that delay the frontend's calls to
# the backend: 40 ms (inside the frontend's 100 ms timeout: held, exit 0)
# and 150 ms (beyond it: every call times out, deviated, exit 1). Nothing
# outside the two namespaces is touched; they are removed at exit.
#
# Needs root, iproute2 and Go (or FAULTLINE=/path/to/faultline).
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$PATH"
FAULTLINE=${FAULTLINE:-}
if [ -z "$FAULTLINE" ]; then
  FAULTLINE=$(mktemp -d)/faultline
  (cd ../.. && go build -o "$FAULTLINE" ./cmd/faultline)
fi
export FAULTLINE_LEDGER=${FAULTLINE_LEDGER:-$(mktemp -d)/ledger.jsonl}
out=${OUT:-$(mktemp -d)}

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$FAULTLINE" recover >/dev/null 2>&1 || true
  ip netns del flt-ex-front 2>/dev/null || true
  ip netns del flt-ex-back 2>/dev/null || true
}
trap cleanup EXIT
cleanup

ip netns add flt-ex-front
ip netns add flt-ex-back
ip -n flt-ex-front link set lo up
ip -n flt-ex-back link set lo up
ip -n flt-ex-front link add flt-ex0 type veth peer name eth0 netns flt-ex-back
ip -n flt-ex-front addr add 10.251.0.1/24 dev flt-ex0
ip -n flt-ex-back addr add 10.251.0.2/24 dev eth0
ip -n flt-ex-front link set flt-ex0 up
ip -n flt-ex-back link set eth0 up

ip netns exec flt-ex-back "$FAULTLINE" demo serve backend --addr 10.251.0.2:9001 & pids+=($!)
ip netns exec flt-ex-front "$FAULTLINE" demo serve frontend --addr 127.0.0.1:8080 --backends 10.251.0.2:9001 & pids+=($!)
for _ in $(seq 50); do
  ip netns exec flt-ex-front bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080' 2>/dev/null && break
  sleep 0.1
done

status=0
run() { # experiment, expected exit code
  local code=0
  ip netns exec flt-ex-front "$FAULTLINE" run "$1" --journal "$out/${1%.yaml}.json" --report "$out/${1%.yaml}.html" || code=$?
  if [ "$code" != "$2" ]; then
    echo "$1: exit $code, expected $2" >&2
    status=1
  else
    echo "$1: exit $code as expected"
  fi
}
run delay-within-timeout.yaml 0
run delay-beyond-timeout.yaml 1
echo "journals and reports in $out"
exit $status

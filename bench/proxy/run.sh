#!/usr/bin/env bash
# Fault proxy benchmark: faultline's proxy and Toxiproxy side by side, in
# one run, on loopback, against direct connections to the same servers.
#
#   bench/proxy/run.sh            # ROUNDS=3 DURATION=5 by default
#
# It builds faultline and Toxiproxy's server (from the Go module proxy, at a
# pinned version), installs Debian's wrk and iperf3 when missing, starts a
# tiny Go HTTP upstream and an iperf3 server, and measures:
#   - request rate (wrk, 32 connections) direct, through each proxy without
#     toxics: the median of ROUNDS runs, and its ratio to direct;
#   - bulk throughput (iperf3, one stream) the same way;
#   - a 50ms latency toxic: p50 and p99 with bench/proxy/latency (32
#     connections, each one request at a time, at most one every 50ms), and
#     the same client through the proxy without the toxic: the difference
#     is what the toxic adds (this VM takes about half a millisecond to
#     wake from idle, which a fixed pace shows and wrk's full speed hides);
#   - CPU time per request of wrk, the upstream and each proxy, which
#     bounds the request rate on a machine with few cores;
#   - bandwidth toxics: iperf3 throughput against the setting.
# Everything listens on 127.0.0.1; every process it starts is stopped by
# pid at exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
TOXIPROXY_VERSION=v2.12.0
# Ports: the upstream, iperf3, the two APIs, and each proxy's listeners.
UP=18080 IPERF=15201
FL_API=18474 TP_API=18475
FL_HTTP=18081 TP_HTTP=18082 FL_IPERF=15202 TP_IPERF=15203

work=$(mktemp -d /tmp/faultline-bench-proxy.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v curl >/dev/null || need+=(curl)
[ -x /usr/bin/time ] || need+=(time)
if ((${#need[@]})); then
  echo "installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "building faultline, the upstream and toxiproxy-server $TOXIPROXY_VERSION" >&2
go build -o "$work/faultline" ./cmd/faultline
go build -o "$work/upstream" ./bench/proxy/upstream
go build -o "$work/latency" ./bench/proxy/latency
GOBIN="$work/toxiproxy" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"

for port in $UP $IPERF $FL_API $TP_API $FL_HTTP $TP_HTTP $FL_IPERF $TP_IPERF; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port on 127.0.0.1 is in use: stop what listens there" >&2
    exit 1
  fi
done

start() { # name, command...: start in the background, remember the pid
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
}
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1; logs:" >&2
  tail -n 20 "$work"/*.log >&2
  exit 1
}

start upstream "$work/upstream" -addr "127.0.0.1:$UP"
start iperf3 iperf3 -s -B 127.0.0.1 -p $IPERF
start faultline "$work/faultline" proxy --api "127.0.0.1:$FL_API"
start toxiproxy "$work/toxiproxy/server" -host 127.0.0.1 -port $TP_API
for p in $UP $IPERF $FL_API $TP_API; do wait_port "$p"; done

api() { # method, url, body
  curl -fsS -X "$1" "$2" -H 'Content-Type: application/json' ${3:+-d "$3"} >/dev/null
}
for tool in faultline:$FL_API:$FL_HTTP:$FL_IPERF toxiproxy:$TP_API:$TP_HTTP:$TP_IPERF; do
  IFS=: read -r _ a h i <<<"$tool"
  api POST "http://127.0.0.1:$a/proxies" "{\"name\":\"http\",\"listen\":\"127.0.0.1:$h\",\"upstream\":\"127.0.0.1:$UP\"}"
  api POST "http://127.0.0.1:$a/proxies" "{\"name\":\"iperf\",\"listen\":\"127.0.0.1:$i\",\"upstream\":\"127.0.0.1:$IPERF\"}"
done

rps() { wrk -t2 -c32 -d"${DURATION}s" "http://127.0.0.1:$1/" | awk '/^Requests\/sec:/ {print $2}'; }
# iperf3's receiver bits per second, from its JSON; extra arguments follow.
bps() {
  local port=$1
  shift
  iperf3 -c 127.0.0.1 -p "$port" -t "$DURATION" -J "$@" |
    awk '/"sum_received"/ {f=1} f && /"bits_per_second"/ {gsub(/[^0-9.e+]/, "", $2); print $2; exit}'
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100*a/b}'; }

declare -A runs
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS: wrk" >&2
  runs[rps_direct]+="$(rps $UP) " runs[rps_faultline]+="$(rps $FL_HTTP) " runs[rps_toxiproxy]+="$(rps $TP_HTTP) "
  echo "round $r/$ROUNDS: iperf3" >&2
  runs[bps_direct]+="$(bps $IPERF) " runs[bps_faultline]+="$(bps $FL_IPERF) " runs[bps_toxiproxy]+="$(bps $TP_IPERF) "
done
declare -A med
for k in "${!runs[@]}"; do med[$k]=$(tr ' ' '\n' <<<"${runs[$k]}" | grep . | median); done

# 50ms latency toxic (downstream) on both proxies: p50 and p99 in ms, with
# and without the toxic at the same pace.
lat() { "$work/latency" -url "http://127.0.0.1:$1/" -c 32 -d "${DURATION}s" -interval 50ms | cut -d' ' -f2-; }
echo "latency toxic" >&2
read -r base_fl50 base_fl99 <<<"$(lat $FL_HTTP)"
read -r base_tp50 base_tp99 <<<"$(lat $TP_HTTP)"
for a in $FL_API $TP_API; do
  api POST "http://127.0.0.1:$a/proxies/http/toxics" '{"name":"lat","type":"latency","stream":"downstream","attributes":{"latency":50}}'
done
read -r lat_fl50 lat_fl99 <<<"$(lat $FL_HTTP)"
read -r lat_tp50 lat_tp99 <<<"$(lat $TP_HTTP)"
for a in $FL_API $TP_API; do api DELETE "http://127.0.0.1:$a/proxies/http/toxics/lat"; done

# CPU milliseconds per 10k requests of wrk, the upstream and the proxy,
# during one wrk run through each proxy.
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu() { # port, proxy pid
  local u0 p0 out r w
  u0=$(cpu_of "${pids[0]}") p0=$(cpu_of "$2")
  out=$({ /usr/bin/time -f "wrkcpu %U %S" wrk -t2 -c32 -d"${DURATION}s" "http://127.0.0.1:$1/"; } 2>&1)
  r=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  w=$(awk '/^wrkcpu/ {print $2 + $3}' <<<"$out")
  awk -v r="$r" -v w="$w" -v u=$(($(cpu_of "${pids[0]}") - u0)) -v p=$(($(cpu_of "$2") - p0)) \
    -v hz="$(getconf CLK_TCK)" -v d="$DURATION" \
    'BEGIN {k = r * d / 10000; printf "%.0f %.0f %.0f", 1000 * w / k, 1000 * u / hz / k, 1000 * p / hz / k}'
}
echo "cpu per request" >&2
read -r cpu_fl_wrk cpu_fl_up cpu_fl_proxy <<<"$(cpu $FL_HTTP "${pids[2]}")"
read -r cpu_tp_wrk cpu_tp_up cpu_tp_proxy <<<"$(cpu $TP_HTTP "${pids[3]}")"

# Bandwidth toxics (downstream): iperf3 -R, the server sending.
echo "bandwidth toxics" >&2
bw_lines=()
for rate in 1000 10000; do # KB/s
  for tool in faultline:$FL_API:$FL_IPERF toxiproxy:$TP_API:$TP_IPERF; do
    IFS=: read -r name a i <<<"$tool"
    api POST "http://127.0.0.1:$a/proxies/iperf/toxics" "{\"name\":\"bw\",\"type\":\"bandwidth\",\"stream\":\"downstream\",\"attributes\":{\"rate\":$rate}}"
    got=$(bps "$i" -R)
    api DELETE "http://127.0.0.1:$a/proxies/iperf/toxics/bw"
    bw_lines+=("$(awk -v n="$name" -v r="$rate" -v g="$got" 'BEGIN {printf "| %s | %d KB/s | %.1f KB/s | %+.2f%% |", n, r, g/8000, 100*(g/8000-r)/r}')")
  done
done

cat <<EOF

## Fault proxy: $(date -u +%Y-%m-%d), $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), Linux $(uname -r), load after $(cut -d' ' -f1-3 /proc/loadavg)
Command: bench/proxy/run.sh (ROUNDS=$ROUNDS DURATION=$DURATION), Toxiproxy $TOXIPROXY_VERSION, $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $(iperf3 --version | head -1 | cut -d' ' -f1-2)

| no toxic | direct | faultline | Toxiproxy | faultline / direct | Toxiproxy / direct |
| --- | --- | --- | --- | --- | --- |
| requests/s (wrk -c32, median) | ${med[rps_direct]} | ${med[rps_faultline]} | ${med[rps_toxiproxy]} | $(ratio "${med[rps_faultline]}" "${med[rps_direct]}") (target ≥ 85%) | $(ratio "${med[rps_toxiproxy]}" "${med[rps_direct]}") |
| bulk Gbit/s (iperf3, median) | $(awk -v b="${med[bps_direct]}" 'BEGIN {printf "%.2f", b/1e9}') | $(awk -v b="${med[bps_faultline]}" 'BEGIN {printf "%.2f", b/1e9}') | $(awk -v b="${med[bps_toxiproxy]}" 'BEGIN {printf "%.2f", b/1e9}') | $(ratio "${med[bps_faultline]}" "${med[bps_direct]}") (target ≥ 80%) | $(ratio "${med[bps_toxiproxy]}" "${med[bps_direct]}") |

| 50ms latency toxic (32 connections, a request each per 50ms) | p50 | p99 | without toxic p50, p99 | added at p50 (target 50 ± 0.5) | p99 - 50ms - p50 without (target ≤ 2) |
| --- | --- | --- | --- | --- | --- |
| faultline | ${lat_fl50}ms | ${lat_fl99}ms | ${base_fl50}, ${base_fl99}ms | $(awk -v v="$lat_fl50" -v b="$base_fl50" 'BEGIN {printf "%.2fms", v-b}') | $(awk -v v="$lat_fl99" -v b="$base_fl50" 'BEGIN {printf "%.2fms", v-50-b}') |
| Toxiproxy | ${lat_tp50}ms | ${lat_tp99}ms | ${base_tp50}, ${base_tp99}ms | $(awk -v v="$lat_tp50" -v b="$base_tp50" 'BEGIN {printf "%.2fms", v-b}') | $(awk -v v="$lat_tp99" -v b="$base_tp50" 'BEGIN {printf "%.2fms", v-50-b}') |

| CPU ms per 10k requests (wrk -c32 through the proxy) | wrk | upstream | proxy | request-rate ceiling on 2 cores: (wrk + upstream) / (wrk + upstream + proxy) |
| --- | --- | --- | --- | --- |
| faultline | $cpu_fl_wrk | $cpu_fl_up | $cpu_fl_proxy | $(awk -v w="$cpu_fl_wrk" -v u="$cpu_fl_up" -v p="$cpu_fl_proxy" 'BEGIN {printf "%.0f%%", 100*(w+u)/(w+u+p)}') |
| Toxiproxy | $cpu_tp_wrk | $cpu_tp_up | $cpu_tp_proxy | $(awk -v w="$cpu_tp_wrk" -v u="$cpu_tp_up" -v p="$cpu_tp_proxy" 'BEGIN {printf "%.0f%%", 100*(w+u)/(w+u+p)}') |

| bandwidth toxic (iperf3 -R) | setting | measured | error (target within ±5%) |
| --- | --- | --- | --- |
$(printf '%s\n' "${bw_lines[@]}")
EOF

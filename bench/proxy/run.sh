#!/usr/bin/env bash
# Fault proxy benchmark: faultline's proxy, Toxiproxy and HAProxy side by
# side, in one run, on loopback, against direct connections to the same
# servers.
#
#   bench/proxy/run.sh            # ROUNDS=3 DURATION=5 by default
#
# It builds faultline and Toxiproxy's server (from the Go module proxy, at a
# pinned version), installs Debian's wrk, iperf3 and haproxy when missing,
# starts a tiny Go HTTP upstream and an iperf3 server, and measures:
#   - request rate (wrk, 32 connections) direct, through each proxy without
#     toxics: the median of ROUNDS runs, and its ratio to direct;
#   - bulk throughput (iperf3, one stream) the same way;
#   - a 50ms latency toxic: p50 and p99 with bench/proxy/latency (32
#     connections, each one request at a time, at most one every 50ms), and
#     the same client through the proxy without the toxic: the difference
#     is what the toxic adds (this VM takes about half a millisecond to
#     wake from idle, which a fixed pace shows and wrk's full speed hides);
#   - CPU time per request of wrk, the upstream and each proxy, which
#     bounds the request rate when they share few cores;
#   - bandwidth toxics: iperf3 throughput against the setting;
#   - request rate and bulk throughput again with a core for the proxy:
#     every server restarted under taskset, the two ends (wrk and the
#     upstream, iperf3's client and server) on CPU 0 and each proxy on CPU
#     1, and the direct baseline with its ends on CPU 0 alike. This is the
#     proxy as a sidecar on a host with cores to spare; the first table,
#     everything sharing every core, is the issue's own method.
# HAProxy (TCP mode, one thread, splice-auto, no logging) is no fault
# proxy: it is the reference for what a proxy written in C costs on the
# same machine, so the ratios can be told apart from the machine's limits.
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
FL_HTTP=18081 TP_HTTP=18082 HA_HTTP=18083
FL_IPERF=15202 TP_IPERF=15203 HA_IPERF=15204
PORTS="$UP $IPERF $FL_API $TP_API $FL_HTTP $TP_HTTP $HA_HTTP $FL_IPERF $TP_IPERF $HA_IPERF"

if (($(nproc) < 2)); then
  echo "needs two CPUs (one for the ends, one for the proxy)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/faultline-bench-proxy.XXXXXX)
declare -A pid # the servers running, by name
cleanup() {
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v haproxy >/dev/null || need+=(haproxy)
command -v curl >/dev/null || need+=(curl)
command -v taskset >/dev/null || need+=(util-linux)
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

for port in $PORTS; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port on 127.0.0.1 is in use: stop what listens there" >&2
    exit 1
  fi
done

# HAProxy in TCP mode: one thread, no log, splice when it expects it to pay.
cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
defaults
  mode tcp
  option splice-auto
  timeout connect 5s
  timeout client 1m
  timeout server 1m
listen http
  bind 127.0.0.1:$HA_HTTP
  server upstream 127.0.0.1:$UP
listen iperf
  bind 127.0.0.1:$HA_IPERF
  server upstream 127.0.0.1:$IPERF
EOF

start() { # name, command...: start in the background, remember the pid
  local name=$1
  shift
  "$@" >>"$work/$name.log" 2>&1 &
  pid[$name]=$!
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 100); do
    listening "$1" && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1; logs:" >&2
  tail -n 20 "$work"/*.log >&2
  exit 1
}
api() { # method, url, body
  curl -fsS -X "$1" "$2" -H 'Content-Type: application/json' ${3:+-d "$3"} >/dev/null
}

# servers starts the upstream, the iperf3 server and the three proxies, and
# makes faultline's and Toxiproxy's proxies. The commands of the ends (the
# servers here, the clients in rps and bps) are prefixed with ${ends[@]},
# those of the proxies with ${proxy[@]}: nothing, or a taskset.
ends=() proxy=()
servers() {
  start upstream "${ends[@]}" "$work/upstream" -addr "127.0.0.1:$UP"
  start iperf3 "${ends[@]}" iperf3 -s -B 127.0.0.1 -p $IPERF
  start faultline "${proxy[@]}" "$work/faultline" proxy --api "127.0.0.1:$FL_API"
  start toxiproxy "${proxy[@]}" "$work/toxiproxy/server" -host 127.0.0.1 -port $TP_API
  start haproxy "${proxy[@]}" haproxy -db -f "$work/haproxy.cfg"
  for p in $UP $IPERF $FL_API $TP_API $HA_HTTP $HA_IPERF; do wait_port "$p"; done
  local tool a h i
  for tool in faultline:$FL_API:$FL_HTTP:$FL_IPERF toxiproxy:$TP_API:$TP_HTTP:$TP_IPERF; do
    IFS=: read -r _ a h i <<<"$tool"
    api POST "http://127.0.0.1:$a/proxies" "{\"name\":\"http\",\"listen\":\"127.0.0.1:$h\",\"upstream\":\"127.0.0.1:$UP\"}"
    api POST "http://127.0.0.1:$a/proxies" "{\"name\":\"iperf\",\"listen\":\"127.0.0.1:$i\",\"upstream\":\"127.0.0.1:$IPERF\"}"
  done
}
stop_servers() {
  local p
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
  pid=()
  for p in $PORTS; do
    for _ in $(seq 100); do
      listening "$p" || continue 2
      sleep 0.1
    done
    echo "127.0.0.1:$p still in use after the servers stopped" >&2
    exit 1
  done
}

rps() { "${ends[@]}" wrk -t2 -c32 -d"${DURATION}s" "http://127.0.0.1:$1/" | awk '/^Requests\/sec:/ {print $2}'; }
# iperf3's receiver bits per second, from its JSON; extra arguments follow.
bps() {
  local port=$1
  shift
  "${ends[@]}" iperf3 -c 127.0.0.1 -p "$port" -t "$DURATION" -J "$@" |
    awk '/"sum_received"/ {f=1} f && /"bits_per_second"/ {gsub(/[^0-9.e+]/, "", $2); print $2; exit}'
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100*a/b}'; }
gbit() { awk -v b="$1" 'BEGIN {printf "%.2f", b/1e9}'; }
each() { # divisor, format, values: the values divided, formatted, comma-separated
  awk -v d="$1" -v f="$2" '{for (i = 1; i <= NF; i++) printf (i > 1 ? ", " : "") f, $i / d}' <<<"$3"
}

# no_toxic measures the request rate and the bulk throughput direct and
# through each proxy, ROUNDS times, into med[<config>_<rps|bps>_<target>].
declare -A runs med
no_toxic() { # config
  local r k
  for r in $(seq "$ROUNDS"); do
    echo "$1, round $r/$ROUNDS: wrk" >&2
    runs[$1_rps_direct]+="$(rps $UP) " runs[$1_rps_faultline]+="$(rps $FL_HTTP) "
    runs[$1_rps_toxiproxy]+="$(rps $TP_HTTP) " runs[$1_rps_haproxy]+="$(rps $HA_HTTP) "
    echo "$1, round $r/$ROUNDS: iperf3" >&2
    runs[$1_bps_direct]+="$(bps $IPERF) " runs[$1_bps_faultline]+="$(bps $FL_IPERF) "
    runs[$1_bps_toxiproxy]+="$(bps $TP_IPERF) " runs[$1_bps_haproxy]+="$(bps $HA_IPERF) "
  done
  for k in "${!runs[@]}"; do
    if [[ $k == "$1"_* ]]; then med[$k]=$(tr ' ' '\n' <<<"${runs[$k]}" | grep . | median); fi
  done
}
# table prints a configuration's no-toxic figures and their ratios.
table() { # config, title
  local c=$1 t
  echo "| $2 | direct | faultline | Toxiproxy | HAProxy | faultline / direct | Toxiproxy / direct | HAProxy / direct |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  printf '| requests/s (wrk -c32, median) | %s' "${med[${c}_rps_direct]}"
  for t in faultline toxiproxy haproxy; do printf ' | %s' "${med[${c}_rps_$t]}"; done
  printf ' | %s (target ≥ 85%%)' "$(ratio "${med[${c}_rps_faultline]}" "${med[${c}_rps_direct]}")"
  for t in toxiproxy haproxy; do printf ' | %s' "$(ratio "${med[${c}_rps_$t]}" "${med[${c}_rps_direct]}")"; done
  printf ' |\n| bulk Gbit/s (iperf3, median) | %s' "$(gbit "${med[${c}_bps_direct]}")"
  for t in faultline toxiproxy haproxy; do printf ' | %s' "$(gbit "${med[${c}_bps_$t]}")"; done
  printf ' | %s (target ≥ 80%%)' "$(ratio "${med[${c}_bps_faultline]}" "${med[${c}_bps_direct]}")"
  for t in toxiproxy haproxy; do printf ' | %s' "$(ratio "${med[${c}_bps_$t]}" "${med[${c}_bps_direct]}")"; done
  printf ' |\n\nEach round, requests/s:'
  for t in direct faultline toxiproxy haproxy; do printf ' %s %s;' "$t" "$(each 1 %.0f "${runs[${c}_rps_$t]}")"; done
  printf ' Gbit/s:'
  for t in direct faultline toxiproxy haproxy; do printf ' %s %s;' "$t" "$(each 1e9 %.1f "${runs[${c}_bps_$t]}")"; done
  printf '\n'
}

servers
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
no_toxic shared

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
  u0=$(cpu_of "${pid[upstream]}") p0=$(cpu_of "$2")
  out=$({ /usr/bin/time -f "wrkcpu %U %S" wrk -t2 -c32 -d"${DURATION}s" "http://127.0.0.1:$1/"; } 2>&1)
  r=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  w=$(awk '/^wrkcpu/ {print $2 + $3}' <<<"$out")
  awk -v r="$r" -v w="$w" -v u=$(($(cpu_of "${pid[upstream]}") - u0)) -v p=$(($(cpu_of "$2") - p0)) \
    -v hz="$(getconf CLK_TCK)" -v d="$DURATION" \
    'BEGIN {k = r * d / 10000; printf "%.0f %.0f %.0f", 1000 * w / k, 1000 * u / hz / k, 1000 * p / hz / k}'
}
echo "cpu per request" >&2
cpu_lines=()
for tool in faultline:faultline:$FL_HTTP toxiproxy:Toxiproxy:$TP_HTTP haproxy:HAProxy:$HA_HTTP; do
  IFS=: read -r name label h <<<"$tool"
  read -r w u p <<<"$(cpu "$h" "${pid[$name]}")"
  cpu_lines+=("$(awk -v n="$label" -v w="$w" -v u="$u" -v p="$p" 'BEGIN {printf "| %s | %d | %d | %d | %.0f%% |", n, w, u, p, 100*(w+u)/(w+u+p)}')")
done

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
load_shared=$(cut -d' ' -f1-3 /proc/loadavg)

# A core for the proxy: every server again, pinned, and the clients too.
echo "restarting the servers pinned: ends on CPU 0, proxies on CPU 1" >&2
stop_servers
ends=(taskset -c 0) proxy=(taskset -c 1)
servers
no_toxic dedicated

cat <<EOF

## Fault proxy: $(date -u +%Y-%m-%d), $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), Linux $(uname -r), load after the shared-CPU part $load_shared, at the end $(cut -d' ' -f1-3 /proc/loadavg)
Command: bench/proxy/run.sh (ROUNDS=$ROUNDS DURATION=$DURATION), Toxiproxy $TOXIPROXY_VERSION, $(haproxy -v | head -1 | cut -d' ' -f1-3), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $(iperf3 --version | head -1 | cut -d' ' -f1-2)

$(table shared "no toxic, shared CPUs")

$(table dedicated "no toxic, dedicated core: ends on CPU 0, proxy on CPU 1")

| 50ms latency toxic (32 connections, a request each per 50ms) | p50 | p99 | without toxic p50, p99 | added at p50 (target 50 ± 0.5) | p99 - 50ms - p50 without (target ≤ 2) |
| --- | --- | --- | --- | --- | --- |
| faultline | ${lat_fl50}ms | ${lat_fl99}ms | ${base_fl50}, ${base_fl99}ms | $(awk -v v="$lat_fl50" -v b="$base_fl50" 'BEGIN {printf "%.2fms", v-b}') | $(awk -v v="$lat_fl99" -v b="$base_fl50" 'BEGIN {printf "%.2fms", v-50-b}') |
| Toxiproxy | ${lat_tp50}ms | ${lat_tp99}ms | ${base_tp50}, ${base_tp99}ms | $(awk -v v="$lat_tp50" -v b="$base_tp50" 'BEGIN {printf "%.2fms", v-b}') | $(awk -v v="$lat_tp99" -v b="$base_tp50" 'BEGIN {printf "%.2fms", v-50-b}') |

| CPU ms per 10k requests (wrk -c32 through the proxy, shared CPUs) | wrk | upstream | proxy | request-rate ceiling on shared cores: (wrk + upstream) / (wrk + upstream + proxy) |
| --- | --- | --- | --- | --- |
$(printf '%s\n' "${cpu_lines[@]}")

| bandwidth toxic (iperf3 -R) | setting | measured | error (target within ±5%) |
| --- | --- | --- | --- |
$(printf '%s\n' "${bw_lines[@]}")
EOF

#!/usr/bin/env bash
# The load generator side by side with its peers, in one run, on loopback:
# `faultline load`, vegeta and wrk against the same targets. Prints
#   1. the maximum rate of each (closed model, the same number of
#      connections) against two targets in turn: the tiny net/http server
#      (bench/load/server), and a minimal responder (bench/load/minserver)
#      whose own CPU is small, so that the tools' costs show rather than the
#      server's; for each, every tool's median rate and range over ROUNDS
#      alternating rounds, its CPU per request, and the ratios
#      faultline/vegeta and faultline/wrk of each round (median and lowest);
#   2. the highest open-model rate faultline and vegeta each sustain against
#      the net/http server (achieved rate within 2% of the asked one, p99
#      under 50 ms);
#   3. coordinated omission: a 500 ms stall of the net/http server during an
#      open-model run at 1000/s shows in faultline's p99, and hides in a
#      closed model's (faultline's and vegeta's; wrk corrects its figures
#      afterwards).
#
# Environment: DURATION (per maximum-rate measurement, default 8s),
# OPEN_DURATION (per open-model step, default 5s), CONNS (connections,
# default 32), ROUNDS (alternating rounds per target, default 7), BENCH_DIR
# (where the tools are built, default a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/../.."

export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
DURATION=${DURATION:-8s}
OPEN_DURATION=${OPEN_DURATION:-5s}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-7}
VEGETA_VERSION=v12.13.0
dir=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$dir"

# --- tools -----------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]} (apt-get install them, or run as root)" >&2
    exit 1
  fi
fi
echo "building faultline, the servers and vegeta $VEGETA_VERSION in $dir" >&2
go build -o "$dir/faultline" ./cmd/faultline
go build -o "$dir/server" ./bench/load/server
go build -o "$dir/minserver" ./bench/load/minserver
GOBIN="$dir" go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"

# --- the servers -----------------------------------------------------------
# Each prints its address on its first line.
"$dir/server" -addr 127.0.0.1:0 >"$dir/addr" 2>"$dir/server.log" &
server_pid=$!
"$dir/minserver" -addr 127.0.0.1:0 >"$dir/minaddr" 2>"$dir/minserver.log" &
minserver_pid=$!
cleanup() {
  kill "$server_pid" "$minserver_pid" 2>/dev/null
  wait "$server_pid" "$minserver_pid" 2>/dev/null
  if [ -z "${BENCH_DIR:-}" ]; then rm -rf "$dir"; fi
}
trap cleanup EXIT
for _ in $(seq 50); do
  [ -s "$dir/addr" ] && [ -s "$dir/minaddr" ] && break
  sleep 0.1
done
addr=$(cat "$dir/addr")
url="http://$addr/"
minurl="http://$(cat "$dir/minaddr")/"

# --- helpers ---------------------------------------------------------------
# json_num FILE KEY INDENT: the number of "KEY" at the given indentation in
# faultline's indented JSON.
json_num() { sed -n "s/^$3\"$2\": \([0-9.e+-]*\).*/\1/p" "$1" | head -1; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
ms() { awk -v ns="$1" 'BEGIN {printf "%.1f ms", ns/1e6}'; }

# Each closed-model run prints "RATE CPU": requests per second, and the
# tool's own CPU time (user + system) per request in microseconds.
TIMEFORMAT='%U %S'
cpu_per() { awk -v n="$2" '{printf "%.1f", ($1+$2)*1e6/n}' "$1"; }
faultline_closed() { # URL
  { time "$dir/faultline" load "$1" --rate 0 --concurrency "$CONNS" --duration "$DURATION" --json >"$dir/f.json" 2>/dev/null; } 2>"$dir/f.time"
  echo "$(json_num "$dir/f.json" rate "  ") $(cpu_per "$dir/f.time" "$(json_num "$dir/f.json" requests "  ")")"
}
vegeta_closed() { # URL
  { time "$dir/vegeta" attack -rate 0 -max-workers "$CONNS" -workers "$CONNS" -duration "$DURATION" <<<"GET $1" >"$dir/v.bin" 2>/dev/null; } 2>"$dir/v.time"
  "$dir/vegeta" report -type json <"$dir/v.bin" >"$dir/v.json"
  echo "$(sed 's/.*"throughput":\([0-9.e+-]*\).*/\1/' "$dir/v.json") $(cpu_per "$dir/v.time" "$(sed 's/.*"requests":\([0-9]*\).*/\1/' "$dir/v.json")")"
}
wrk_closed() { # URL
  { time wrk -t2 -c"$CONNS" -d"$DURATION" "$1" >"$dir/w.txt"; } 2>"$dir/w.time"
  echo "$(awk '/Requests\/sec/ {print $2}' "$dir/w.txt") $(cpu_per "$dir/w.time" "$(awk '/requests in/ {print $1}' "$dir/w.txt")")"
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "servers: net/http $url, minimal $minurl; $ROUNDS rounds of $DURATION each, $CONNS connections"

# --- 1. maximum rate, closed model -------------------------------------------
# The tools take turns, round after round, so a neighbour's burst of work
# lands on all of them; each round's ratios compare runs seconds apart.
lo() { sort -g | head -1; }
hi() { sort -g | tail -1; }
max_rate() { # NAME URL
  local t round
  for t in f v w; do : >"$dir/$1.$t.runs"; done
  : >"$dir/$1.ratios"
  for round in $(seq "$ROUNDS"); do
    faultline_closed "$2" >>"$dir/$1.f.runs"
    vegeta_closed "$2" >>"$dir/$1.v.runs"
    wrk_closed "$2" >>"$dir/$1.w.runs"
    local fr vr wr
    fr=$(tail -1 "$dir/$1.f.runs" | cut -d' ' -f1)
    vr=$(tail -1 "$dir/$1.v.runs" | cut -d' ' -f1)
    wr=$(tail -1 "$dir/$1.w.runs" | cut -d' ' -f1)
    echo "$(ratio "$fr" "$vr") $(ratio "$fr" "$wr")" >>"$dir/$1.ratios"
    printf '%s round %d: faultline %.0f/s  vegeta %.0f/s  wrk %.0f/s  faultline/vegeta %s  faultline/wrk %s\n' "$1" "$round" \
      "$fr" "$vr" "$wr" $(tail -1 "$dir/$1.ratios")
  done
}
col() { cut -d' ' -f"$2" "$1"; }
tool_line() { # LABEL RUNS
  printf '  %-15s %8.0f req/s  (%.0f-%.0f)  %5s us CPU per request\n' "$1" \
    "$(col "$2" 1 | median)" "$(col "$2" 1 | lo)" "$(col "$2" 1 | hi)" "$(col "$2" 2 | median)"
}
max_rate_report() { # NAME TITLE
  echo
  echo "== maximum rate, $2, $CONNS connections, closed model (median of $ROUNDS rounds, range)"
  tool_line "faultline load" "$dir/$1.f.runs"
  tool_line vegeta "$dir/$1.v.runs"
  tool_line wrk "$dir/$1.w.runs"
  echo "  faultline / vegeta per round: median $(col "$dir/$1.ratios" 1 | median), lowest $(col "$dir/$1.ratios" 1 | lo)   (target >= 2)"
  echo "  faultline / wrk per round:    median $(col "$dir/$1.ratios" 2 | median), lowest $(col "$dir/$1.ratios" 2 | lo)   (target >= 0.70)"
}
max_rate nethttp "$url"
max_rate minimal "$minurl"
max_rate_report nethttp "net/http server (bench/load/server)"
max_rate_report minimal "minimal responder (bench/load/minserver)"
# The open-model steps are fractions of faultline's maximum against the
# net/http server.
f=$(col "$dir/nethttp.f.runs" 1 | median)

# --- 2. open model: the highest rate sustained -------------------------------
# Rates from 10% to 100% of faultline's closed-model maximum, in steps of
# 10%, OPEN_DURATION each; the highest rate each tool sustains is kept.
sustained() { # achieved asked p99_ns
  awk -v got="$1" -v want="$2" -v p99="$3" 'BEGIN {exit !(got >= 0.98*want && p99 < 50e6)}'
}
best_f=0
best_v=0
for pct in 10 20 30 40 50 60 70 80 90 100; do
  rate=$(awk -v m="$f" -v p="$pct" 'BEGIN {printf "%d", m*p/100}')
  "$dir/faultline" load "$url" --rate "$rate" --duration "$OPEN_DURATION" --json >"$dir/fo.json" 2>/dev/null
  fr=$(json_num "$dir/fo.json" rate "  ")
  fp=$(json_num "$dir/fo.json" p99 "    ")
  echo "GET $url" | "$dir/vegeta" attack -rate "$rate" -duration "$OPEN_DURATION" | "$dir/vegeta" report -type json >"$dir/vo.json"
  vr=$(sed 's/.*"throughput":\([0-9.e+-]*\).*/\1/' "$dir/vo.json")
  vp=$(sed 's/.*"99th":\([0-9]*\).*/\1/' "$dir/vo.json")
  printf 'open model at %6d/s: faultline %6.0f/s p99 %-10s vegeta %6.0f/s p99 %s\n' "$rate" "$fr" "$(ms "$fp")" "$vr" "$(ms "$vp")"
  if sustained "$fr" "$rate" "$fp"; then best_f=$rate; fi
  if sustained "$vr" "$rate" "$vp"; then best_v=$rate; fi
done
echo
echo "== open model, net/http server, highest rate sustained (achieved >= 98%, p99 < 50 ms; steps of 10% of $(printf '%.0f' "$f")/s)"
echo "  faultline load  $best_f req/s"
echo "  vegeta          $best_v req/s"
if [ "$best_v" -gt 0 ]; then echo "  faultline / vegeta = $(ratio "$best_f" "$best_v")"; fi

# --- 3. coordinated omission -------------------------------------------------
# The server stalls 500 ms, 1.5 s into each 4 s run. wrk's own percentiles
# are corrected after the fact (it adds the samples a stalled connection
# kept from being sent), so it sees the stall too; the uncorrected closed
# model (faultline --rate 0, vegeta -rate 0) shows what a naive measure
# reports.
stall() { sleep 1.5 && curl -fsS -X POST "http://$addr/stall?for=500ms" >/dev/null; }
stall &
stall_pid=$!
"$dir/faultline" load "$url" --rate 1000 --duration 4s --json >"$dir/co-f.json"
wait "$stall_pid"
stall &
stall_pid=$!
"$dir/faultline" load "$url" --rate 0 --concurrency "$CONNS" --duration 4s --json >"$dir/co-fc.json"
wait "$stall_pid"
stall &
stall_pid=$!
echo "GET $url" | "$dir/vegeta" attack -rate 0 -max-workers "$CONNS" -workers "$CONNS" -duration 4s |
  "$dir/vegeta" report -type json >"$dir/co-v.json"
wait "$stall_pid"
stall &
stall_pid=$!
wrk -t2 -c"$CONNS" -d4s --latency "$url" >"$dir/co-w.txt"
wait "$stall_pid"
echo
echo "== coordinated omission: the net/http server stalls 500 ms once during a 4 s run"
echo "  faultline load, open model 1000/s:         p99 $(ms "$(json_num "$dir/co-f.json" p99 "    ")"), max $(ms "$(json_num "$dir/co-f.json" max "    ")")"
echo "  faultline load, closed model $CONNS workers:   p99 $(ms "$(json_num "$dir/co-fc.json" p99 "    ")"), max $(ms "$(json_num "$dir/co-fc.json" max "    ")")"
echo "  vegeta, closed model $CONNS workers:           p99 $(ms "$(sed 's/.*"99th":\([0-9]*\).*/\1/' "$dir/co-v.json")"), max $(ms "$(sed 's/.*"max":\([0-9]*\).*/\1/' "$dir/co-v.json")")"
echo "  wrk, $CONNS connections, corrected afterwards: p99 $(awk '$1=="99%" {print $2}' "$dir/co-w.txt"), max $(awk '/Latency/ && !/Distribution/ {print $4; exit}' "$dir/co-w.txt")"
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Cross-checks `revrouter loadtest` against wrk: the same `revrouter serve --dev` on 127.0.0.1, the
# same request (POST of the built-in Deployment pod review to /inject/ns-injection/enabled?timeout=10s,
# application/json, TLS keep-alive), the same connection count and duration, both closed loop on
# one client thread. Prints each tool's req/s, mean, p50, p99, requests in flight by Little's law
# and client CPU per request for every round, then the means and the loadtest/wrk ratios. loadtest
# runs twice per round: with its default full answer check (JSON, uid, allowed) and with
# --check status (HTTP status only, like wrk); each is shown as measured and with the closed-loop
# correction wrk applies to its own latencies (synthetic samples for requests a stall held back).
# A benchmark, not a test: it installs wrk (Debian package) if missing and wants a quiet machine.
#
# Usage: bench/loadtest_vs_wrk.sh [--duration 10] [--connections 16] [--rounds 3]
#                                 [--server-threads 1]
# Environment: REVROUTER_BIN (default: a Release build in build/release).
set -euo pipefail

duration=10 connections=16 rounds=3 server_threads=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --server-threads) server_threads=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
path=/inject/ns-injection/enabled  # loadtest adds ?timeout=10s (its --timeout), as kube-apiserver
query='?timeout=10s'

if ! command -v wrk >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends wrk
fi
if [ -z "${REVROUTER_BIN:-}" ]; then
  cmake -S "$repo" -B "$repo/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DREVROUTER_TESTS=OFF -DREVROUTER_BENCH=OFF >/dev/null
  cmake --build "$repo/build/release" --target revrouter -j2 >/dev/null
  REVROUTER_BIN="$repo/build/release/tools/revrouter"
fi

work=$(mktemp -d /tmp/revrouter-wrk-XXXXXX)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Server and client each on a core of their own (when there are two): neither tool's client then
# takes CPU from the server, so the comparison is of the measurement, not of who got the CPU.
pin_server=() pin_client=()
if [ "$(nproc)" -ge 2 ] && [ "$server_threads" = 1 ] && command -v taskset >/dev/null; then
  pin_server=(taskset -c 0) pin_client=(taskset -c 1)
fi
"${pin_server[@]}" "$REVROUTER_BIN" serve --dev --dev-dir "$work/dev" --listen 127.0.0.1:0 \
  --port-file "$work/port" \
  --threads "$server_threads" --log-level warn >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { cat "$work/serve.log" >&2; echo "the server did not start" >&2; exit 1; }
port=$(head -1 "$work/port")
url="https://127.0.0.1:$port"
ca="$work/dev/ca.crt"

# One body for both tools: the one loadtest sends (wrk sends it with a fixed uid).
"$REVROUTER_BIN" loadtest --url "$url" --print-body >"$work/body.json"
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
local f = io.open("$work/body.json", "rb")
wrk.body = f:read("*a")
f:close()
LUA

# wrk prints latencies as 1.23ms, 850.00us, 1.02s: to milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

# Client CPU (user + system seconds) of the last timed command, from bash's `time`.
TIMEFORMAT='%U %S'
cpu_of() { awk '{ print $1 + $2 }' "$work/time"; }

run_wrk() {
  { time "${pin_client[@]}" wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$work/post.lua" \
    "$url$path$query" >"$work/wrk.out" 2>&1; } 2>"$work/time"
  wrk_cpu=$(cpu_of)
  if grep -q "Non-2xx\|Socket errors" "$work/wrk.out"; then
    cat "$work/wrk.out" >&2
    echo "wrk saw errors" >&2
    exit 1
  fi
  wrk_rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out")
  wrk_mean=$(to_ms "$(awk '$1 == "Latency" && $2 != "Distribution" {print $2; exit}' "$work/wrk.out")")
  wrk_p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$work/wrk.out")")
  wrk_p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$work/wrk.out")")
}

run_loadtest() {  # run_loadtest CHECK
  { time "${pin_client[@]}" "$REVROUTER_BIN" loadtest --url "$url$path" --ca "$ca" -c "$connections" \
    -d "${duration}s" --threads 1 --check "$1" --output json -q >"$work/lt.json"; } \
    2>"$work/time" || {
    cat "$work/lt.json" >&2
    echo "revrouter loadtest saw errors" >&2
    exit 1
  }
  lt_cpu=$(cpu_of)
  # Its measured latencies, and the same corrected as wrk corrects a closed loop's.
  read -r lt_rps lt_mean lt_p50 lt_p99 co_mean co_p50 co_p99 < <(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
l, c = j["latencyMs"], j["latencyMsCorrected"]
print("%.2f %.3f %.3f %.3f %.3f %.3f %.3f" % (j["rate"], l["mean"], l["p50"], l["p99"], c["mean"],
      c["p50"], c["p99"]))' "$work/lt.json")
}

echo "revrouter serve --dev ($server_threads thread(s)) on 127.0.0.1; $connections connections," \
  "${duration}s per run, one client thread, body $(wc -c <"$work/body.json") bytes," \
  "pinned: ${pin_server[*]:-no} / ${pin_client[*]:-no}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$REVROUTER_BIN" loadtest --url "$url$path" --ca "$ca" -c "$connections" -d 2s -q >/dev/null  # warm-up
# Rows: wrk; loadtest (full check) as measured and as corrected like wrk ("+corr"); the same with
# --check status. "in flight" is Little's law, rate x mean latency: a closed loop's measured
# latencies give at most the connection count, and exactly it when the client adds no time of its
# own between an answer and the next send; corrected figures (wrk's included) exceed it by design.
printf '%-6s %-14s %10s %8s %8s %8s %10s %14s\n' round tool "req/s" "mean ms" "p50 ms" \
  "p99 ms" "in flight" "client us/req"
: >"$work/results"
row() {  # row ROUND TOOL RPS MEAN P50 P99 CPU
  local us flight
  us=$(awk -v c="$7" -v r="$3" -v d="$duration" 'BEGIN { print c * 1e6 / (r * d) }')
  flight=$(awk -v r="$3" -v m="$4" 'BEGIN { print r * m / 1000 }')
  printf '%-6s %-14s %10.1f %8.3f %8.3f %8.3f %10.2f %14.1f\n' "$1" "$2" "$3" "$4" "$5" "$6" \
    "$flight" "$us"
  echo "$2 $3 $4 $5 $6 $flight $us" >>"$work/results"
}
for r in $(seq "$rounds"); do
  run_wrk
  row "$r" wrk "$wrk_rps" "$wrk_mean" "$wrk_p50" "$wrk_p99" "$wrk_cpu"
  run_loadtest full
  row "$r" loadtest "$lt_rps" "$lt_mean" "$lt_p50" "$lt_p99" "$lt_cpu"
  row "$r" loadtest+corr "$lt_rps" "$co_mean" "$co_p50" "$co_p99" "$lt_cpu"
  run_loadtest status
  row "$r" status "$lt_rps" "$lt_mean" "$lt_p50" "$lt_p99" "$lt_cpu"
  row "$r" status+corr "$lt_rps" "$co_mean" "$co_p50" "$co_p99" "$lt_cpu"
done
# Means over the rounds, and each loadtest row against wrk.
awk '{ n[$1]++; rps[$1] += $2; mean[$1] += $3; p50[$1] += $4; p99[$1] += $5; fl[$1] += $6
       us[$1] += $7 }
  END {
    split("wrk loadtest loadtest+corr status status+corr", order, " ")
    for (i = 1; i <= 5; i++) {
      t = order[i]
      printf "mean   %-14s %10.1f %8.3f %8.3f %8.3f %10.2f %14.1f\n", t, rps[t] / n[t],
        mean[t] / n[t], p50[t] / n[t], p99[t] / n[t], fl[t] / n[t], us[t] / n[t]
    }
    for (i = 2; i <= 5; i++) {
      t = order[i]
      printf "ratio %-13s / wrk: req/s %.3f  mean %.3f  p50 %.3f  p99 %.3f\n", t,
        rps[t] / rps["wrk"], mean[t] / mean["wrk"], p50[t] / p50["wrk"], p99[t] / p99["wrk"]
    }
  }' "$work/results"

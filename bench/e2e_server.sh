#!/usr/bin/env bash
# End-to-end throughput of `revrouter serve` (local backend, full injection) against nginx serving
# a constant response of the same size with the same TLS settings, both under the same wrk POST
# load over TLS keep-alive. Prints requests/s of each and their ratio, latency percentiles at half
# of revrouter's peak rate, and revrouter's peak RSS. A benchmark, not a test: it installs nginx
# and wrk (Debian packages) if they are missing and needs a quiet machine.
#
# The two servers run side by side and are loaded in alternation, --rounds times each; the medians
# are compared, so a burst of background load hurts both rather than one.
#
# --pin: the servers on CPU 0 (one thread / one worker each), the load generators on CPU 1, so a
# client never takes CPU time from the server it measures (on the 2-core dev machine, the way to
# measure latency at half the server's rate without the client itself being the bottleneck).
#
# Latency at half rate is measured in open loop by `revrouter loadtest --rate --busy-poll` (from
# each request's due time, no coordinated omission; wrk's own pacing overshoots), for both servers
# in alternation, --rounds times each; the medians of the per-run percentiles are printed.
#
# Usage: bench/e2e_server.sh [--duration 10] [--rounds 3] [--connections 32] [--threads 2] [--pin]
#                            [--keep]
# Environment: REVROUTER_BIN (default: a Release build in build-e2e), LOADTEST_BIN (the binary whose
# `loadtest` measures latency, default REVROUTER_BIN: set it to compare an older server that has no
# --busy-poll), PORT_BASE (default 18443).
set -euo pipefail

duration=10 rounds=3 connections=32 threads=2 keep=0 pin=0
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --pin) pin=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
server_cpu=() client_cpu=()
if [ "$pin" = 1 ]; then
  server_cpu=(taskset -c 0) client_cpu=(taskset -c 1) threads=1
fi
port_base=${PORT_BASE:-18443}
nginx_port=$port_base
revrouter_port=$((port_base + 1))
health_port=$((port_base + 2))
path='/inject/ns-injection/enabled?timeout=10s'

# --- tools -------------------------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/sbin/nginx ] || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if [ -z "${REVROUTER_BIN:-}" ]; then
  cmake -S "$repo" -B "$repo/build-e2e" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DREVROUTER_TESTS=OFF -DREVROUTER_BENCH=OFF >/dev/null
  ninja -C "$repo/build-e2e" -j2 revrouter >/dev/null
  REVROUTER_BIN="$repo/build-e2e/tools/revrouter"
fi

work=$(mktemp -d /tmp/revrouter-e2e-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "$keep" = 1 ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

wait_port() {  # wait_port <port>: until something accepts on 127.0.0.1:<port>, at most 10 s
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listening on port $1" >&2
  return 1
}

# --- certificates, config, request -------------------------------------------------------------
"$REVROUTER_BIN" certs --service revrouter --namespace istio-system --dns localhost \
  --ip 127.0.0.1 --out-dir "$work/certs" >/dev/null 2>&1
mkdir -p "$work/config/templates"
cp "$repo/config/example.yaml" "$work/config/"
cp "$repo/config/templates/example-sidecar.yaml" "$work/config/templates/"
cp "$repo/tests/server/data/pod-create.v1.json" "$work/request.json"

cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/request.json", "rb")
wrk.body = f:read("*a")
f:close()
LUA

run_wrk() {  # run_wrk <port> <script> <seconds> -> wrk's output
  "${client_cpu[@]}" wrk -t"$threads" -c"$connections" -d"${3}s" --latency -s "$2" \
    "https://127.0.0.1:$1$path"
}
rps_of() { awk '/^Requests\/sec:/ { print $2 }'; }

# --- revrouter ---------------------------------------------------------------------------------
# Per-request logs are info lines; the benchmark measures the server, so it logs warnings only.
"${server_cpu[@]}" "$REVROUTER_BIN" serve --config "$work/config/example.yaml" \
  --tls-cert "$work/certs/tls.crt" --tls-key "$work/certs/tls.key" \
  --listen "127.0.0.1:$revrouter_port" --health-listen "127.0.0.1:$health_port" \
  --threads "$threads" --log-level warn 2>"$work/revrouter.log" &
rr_pid=$!
pids+=("$rr_pid")
wait_port "$revrouter_port"

curl -sS --fail --cacert "$work/certs/ca.crt" \
  --resolve "revrouter.istio-system.svc:$revrouter_port:127.0.0.1" \
  -H 'Content-Type: application/json' --data-binary @"$work/request.json" \
  "https://revrouter.istio-system.svc:$revrouter_port$path" >"$work/response.json"
body_bytes=$(wc -c <"$work/response.json")
grep -q '"patchType":"JSONPatch"' "$work/response.json" || {
  echo "revrouter did not inject the benchmark pod:" >&2; head -c 500 "$work/response.json" >&2
  exit 1
}

# --- nginx -------------------------------------------------------------------------------------
if grep -q '[$'"'"'\\]' "$work/response.json"; then
  echo "the response contains \$, ' or \\; it cannot be inlined into nginx.conf" >&2
  exit 1
fi
mkdir -p "$work/nginx"
python3 - "$repo/bench/nginx/nginx.conf.in" "$work/nginx/nginx.conf" "$work/response.json" \
  "$threads" "$work/nginx" "$nginx_port" "$work/certs" <<'PY'
import sys
src, dst, body, workers, rundir, port, certdir = sys.argv[1:]
conf = open(src).read()
text = open(body).read()
chunks = [text[i:i + 3000] for i in range(0, len(text), 3000)]
sets = "\n".join(f"      set $body{i} '{c}';" for i, c in enumerate(chunks))
names = "".join(f"$body{i}" for i in range(len(chunks)))
for k, v in {"@WORKERS@": workers, "@RUNDIR@": rundir, "@PORT@": port, "@CERTDIR@": certdir,
             "@BODY_SETS@": sets, "@BODY_VARS@": names}.items():
    conf = conf.replace(k, v)
open(dst, "w").write(conf)
PY
"${server_cpu[@]}" /usr/sbin/nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/nginx-error.log" &
pids+=($!)
wait_port "$nginx_port"
nginx_bytes=$(curl -sS -k -H 'Content-Type: application/json' --data-binary @"$work/request.json" \
  "https://127.0.0.1:$nginx_port$path" | wc -c)
[ "$nginx_bytes" = "$body_bytes" ] || { echo "nginx body $nginx_bytes != $body_bytes" >&2; exit 1; }

# --- load --------------------------------------------------------------------------------------
echo "request: $(wc -c <"$work/request.json") bytes POST $path; response: $body_bytes bytes"
echo "wrk: $threads threads, $connections connections, ${duration}s per run, $rounds rounds, TLS keep-alive"
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
errors_in() {  # errors_in <name> <wrk output>: warn about non-2xx answers or socket errors
  if grep -q -E 'Non-2xx|Socket errors' <<<"$2"; then
    echo "warning: $1 run had errors:"; grep -E 'Non-2xx|Socket errors' <<<"$2"
  fi
}
run_wrk "$nginx_port" "$work/post.lua" 3 >/dev/null   # warm-up
run_wrk "$revrouter_port" "$work/post.lua" 3 >/dev/null
nginx_all=() rr_all=() ratios=()
for round in $(seq "$rounds"); do
  # Alternate which server goes first, so neither always follows the other's cool-down.
  if [ $((round % 2)) = 1 ]; then order="nginx revrouter"; else order="revrouter nginx"; fi
  for name in $order; do
    if [ "$name" = nginx ]; then
      nginx_out=$(run_wrk "$nginx_port" "$work/post.lua" "$duration"); errors_in nginx "$nginx_out"
    else
      rr_out=$(run_wrk "$revrouter_port" "$work/post.lua" "$duration"); errors_in revrouter "$rr_out"
    fi
  done
  n=$(rps_of <<<"$nginx_out"); r=$(rps_of <<<"$rr_out")
  nginx_all+=("$n"); rr_all+=("$r")
  ratios+=("$(awk -v a="$r" -v b="$n" 'BEGIN { printf "%.3f", a / b }')")
  printf 'round %d: nginx %10.0f req/s   revrouter %10.0f req/s   ratio %s   (load avg %s)\n' \
    "$round" "$n" "$r" "${ratios[-1]}" "$(cut -d' ' -f1 /proc/loadavg)"
done
nginx_rps=$(printf '%s\n' "${nginx_all[@]}" | median)
rr_rps=$(printf '%s\n' "${rr_all[@]}" | median)
ratio=$(printf '%s\n' "${ratios[@]}" | median)
rr_hwm_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$rr_pid/status")

half=$(awk -v r="$rr_rps" 'BEGIN { printf "%d", r / 2 }')
# Open loop at half of revrouter's peak. --check status: nginx's constant body cannot echo uids.
# --busy-poll: the client holds its CPU instead of sleeping and re-arming a timer per request, which
# on a VM cost more than the request and made the client, not the server, the tail (docs/loadtest.md).
# Like the throughput, alternated for --rounds rounds each; the medians are compared.
open_loop() {  # open_loop <port> -> loadtest JSON
  "${client_cpu[@]}" "${LOADTEST_BIN:-$REVROUTER_BIN}" loadtest --url "https://127.0.0.1:$1${path%%\?*}" \
    --ca "$work/certs/ca.crt" --server-name revrouter.istio-system.svc -c "$connections" \
    --busy-poll --rate "$half" -d "${duration}s" --check status --output json -q "$work/request.json"
}
lt() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" <<<"$2"; }
rr_p50s=() rr_p99s=() rr_p999s=() nginx_p99s=() paced_errors=0
for round in $(seq "$rounds"); do
  paced_json=$(open_loop "$revrouter_port")
  nginx_paced_json=$(open_loop "$nginx_port")
  rr_p50s+=("$(lt 'd["latencyMs"]["p50"]' "$paced_json")")
  rr_p99s+=("$(lt 'd["latencyMs"]["p99"]' "$paced_json")")
  rr_p999s+=("$(lt 'd["latencyMs"]["p99.9"]' "$paced_json")")
  nginx_p99s+=("$(lt 'd["latencyMs"]["p99"]' "$nginx_paced_json")")
  paced_errors=$((paced_errors + $(lt 'd["requests"]["errors"]' "$paced_json")))
  printf 'latency round %d at %s req/s: revrouter p50 %sms p99 %sms (%s req/s done)   nginx p99 %sms (%s req/s done)\n' \
    "$round" "$half" "${rr_p50s[-1]}" "${rr_p99s[-1]}" "$(lt '"%.0f" % d["rate"]' "$paced_json")" \
    "${nginx_p99s[-1]}" "$(lt '"%.0f" % d["rate"]' "$nginx_paced_json")"
done
pct() { awk -v p="$1" '$1 == p { print $2 }' <<<"$2"; }  # wrk's --latency table
metrics=$(curl -sS "http://127.0.0.1:$health_port/metrics")

echo
printf '%-36s %12s\n' "nginx requests/s (median)" "$nginx_rps"
printf '%-36s %12s\n' "revrouter requests/s (median)" "$rr_rps"
printf '%-36s %12s   (target >= 0.80)\n' "ratio revrouter / nginx (median)" "$ratio"
printf '%-36s %10sms   (open loop at %s requests/s, %s errors)\n' \
  "revrouter p50 at half rate (median)" "$(printf '%s\n' "${rr_p50s[@]}" | median)" "$half" \
  "$paced_errors"
printf '%-36s %10sms   (target <= 2ms; p99.9 median %sms)\n' "revrouter p99 at half rate (median)" \
  "$(printf '%s\n' "${rr_p99s[@]}" | median)" "$(printf '%s\n' "${rr_p999s[@]}" | median)"
printf '%-36s %10sms   (same schedule)\n' "nginx p99 at that rate (median)" \
  "$(printf '%s\n' "${nginx_p99s[@]}" | median)"
printf '%-36s %12s   (target <= 50 MB)\n' "revrouter peak RSS" "$((rr_hwm_kb / 1024)) MB"
printf '%-36s %12s\n' "revrouter p99 at full load (last)" "$(pct 99% "$rr_out")"
printf '%-36s %12s\n' "nginx p99 at full load (last)" "$(pct 99% "$nginx_out")"
echo "revrouter injected: $(awk '/^revrouter_requests_total\{outcome="injected"/ { s += $2 } END { print s + 0 }' <<<"$metrics") requests, rejected: $(awk '/^revrouter_requests_total\{outcome="rejected"/ { s += $2 } END { print s + 0 }' <<<"$metrics")"
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

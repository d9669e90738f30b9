#!/usr/bin/env bash
# Soak: `revrouter serve` under a steady open-loop load (`revrouter loadtest --rate`) for a long
# time, while its serving certificate is rotated (a Secret-volume swap, picked up by the file
# watch) and its routing table is reloaded (a ConfigMap-volume swap, then SIGHUP), several times.
# Fails (exit 1) unless
#   - every request was answered ok (the soak's and the fresh connections' after each rotation),
#   - every reload happened (cert and config reload counters in /metrics, no failed reload) and the
#     server serves each new certificate (checked over a new handshake),
#   - VmRSS at the end is less than 5% above VmRSS after the warm-up (both with no client
#     connected; the warm-up runs the same load and one reload cycle, so one-time costs are in the
#     baseline),
#   - the open descriptor count at the end equals the one after the warm-up,
#   - the server ends cleanly on SIGTERM (exit 0; under ASan, that includes LeakSanitizer).
# A benchmark, not in the default test run; `scripts/test.sh` runs a 30 s version in CI.
#
# Usage: bench/soak.sh [--duration 10m] [--rate N] [--connections 16] [--reloads 5]
#                      [--warmup 10s] [--capacity-duration 10s] [--server-threads 2] [--keep]
#   --rate: open-loop requests/s; default: half the closed-loop capacity measured first.
#   Durations: 30s, 10m, 1h or plain seconds.
# Environment: REVROUTER_BIN (default: the Release build of scripts/dev.sh in build/release,
#   built or brought up to date; REVROUTER_DEV_BUILD picks another build directory), SOAK_DIR (work
#   directory, default a fresh one under /tmp, removed at the end unless --keep or a failure).
#
# Under ASan (a binary linked with libasan, as CI's test build is) freed memory is held in a
# quarantine (256 MiB by default) that counts as resident: VmRSS would grow for minutes whatever
# the server did. The script therefore appends quarantine_size_mb=1 and
# thread_local_quarantine_size_kb=64 to ASAN_OPTIONS, as the bad-input memory test does, so that
# growth means retained memory again. The 5% rule is the same for both builds. What ASan still
# adds is its store of allocation stacks: about 1 KiB per config reload (measured: 800 SIGHUPs,
# +1.2 MB with the default malloc_context_size, flat with malloc_context_size=0 and in Release),
# far below 5% of an ASan server's ~125 MB over the few dozen reloads a soak does.
set -euo pipefail

duration=10m rate="" connections=16 reloads=5 warmup=10s capacity_duration=10s
server_threads=2 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --reloads) reloads=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --capacity-duration) capacity_duration=$2; shift 2 ;;
    --server-threads) server_threads=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

seconds_of() {  # 30s / 10m / 1h / 45 -> whole seconds
  local v=$1
  case "$v" in
    *h) echo $((${v%h} * 3600)) ;;
    *m) echo $((${v%m} * 60)) ;;
    *s) echo $((${v%s})) ;;
    *) echo $((v)) ;;
  esac
}
duration_s=$(seconds_of "$duration")
warmup_s=$(seconds_of "$warmup")
[ "$warmup_s" -ge 4 ] || { echo "--warmup must be at least 4s (it holds a reload cycle)" >&2; exit 2; }
capacity_s=$(seconds_of "$capacity_duration")
[ "$duration_s" -gt 0 ] && [ "$reloads" -gt 0 ] || { echo "--duration and --reloads must be positive" >&2; exit 2; }
spacing=$((duration_s / (reloads + 1)))
[ "$spacing" -ge 3 ] || { echo "--duration $duration leaves under 3 s between $reloads reload cycles" >&2; exit 2; }

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${REVROUTER_BIN:-}" ]; then
  build=${REVROUTER_DEV_BUILD:-build/release}
  (cd "$repo" && bash scripts/deps.sh &&
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DREVROUTER_TESTS=OFF \
      -DREVROUTER_BENCH=OFF >/dev/null &&
    cmake --build "$build" --target revrouter -j"$(nproc)" >/dev/null)
  REVROUTER_BIN="$repo/$build/tools/revrouter"
fi
bin=$REVROUTER_BIN
build_kind="no sanitizer"
if ldd "$bin" 2>/dev/null | grep libasan >/dev/null; then  # not -q: an early exit would fail the pipe
  build_kind="ASan (quarantine_size_mb=1)"
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1:thread_local_quarantine_size_kb=64"
fi

work=${SOAK_DIR:-$(mktemp -d /tmp/revrouter-soak-XXXXXX)}
mkdir -p "$work"
server_pid="" load_pid="" failed=0
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$keep" = 1 ] || [ "$failed" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail_now() { failed=1; echo "soak: $*" >&2; [ -f "$work/server.log" ] && tail -20 "$work/server.log" >&2; exit 1; }

# --- files: a Secret-like and a ConfigMap-like volume -------------------------------------------
# kubelet writes a new ..<timestamp> directory, points ..data_tmp at it and renames that over
# ..data; the visible names are symlinks through ..data, so both files change in one rename.
volume_version=0
volume_update() {  # volume_update <dir> <source file>...: new version of the volume, swapped in
  local dir=$1; shift
  volume_version=$((volume_version + 1))
  local v="..v$volume_version"
  mkdir -p "$dir/$v"
  for f in "$@"; do cp "$f" "$dir/$v/"; done
  ln -sfn "$v" "$dir/..data_tmp"
  mv -T "$dir/..data_tmp" "$dir/..data"
  for f in "$@"; do
    local name; name=$(basename "$f")
    [ -L "$dir/$name" ] || ln -s "..data/$name" "$dir/$name"
  done
  # kubelet removes the old version after the swap; so do we (the server has read it or will
  # read the new one).
  for old in "$dir"/..v*; do [ "$(basename "$old")" = "$v" ] || rm -rf "$old"; done
}

"$bin" certs --service revrouter --namespace istio-system --dns localhost --ip 127.0.0.1 \
  --out-dir "$work/pki" >/dev/null 2>"$work/certs.log" || fail_now "revrouter certs failed: $(cat "$work/certs.log")"
ca="$work/pki/ca.crt"
host=revrouter.istio-system.svc
mkdir -p "$work/next"

# A renewed serving certificate from the same CA (as cert-manager renews one): a new key, a new
# serial, the same names. openssl, so the rotation does not depend on the code under test.
issue_cert() {  # issue_cert <n>: writes $work/next/tls.crt and tls.key
  cat >"$work/next/ext.cnf" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:$host, DNS:revrouter.istio-system.svc.cluster.local, DNS:revrouter.istio-system, DNS:localhost, IP:127.0.0.1
EXT
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/next/tls.key" -subj "/CN=$host/O=soak rotation $1" -out "$work/next/tls.csr" 2>/dev/null
  openssl x509 -req -in "$work/next/tls.csr" -CA "$ca" -CAkey "$work/pki/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 30 -sha256 -extfile "$work/next/ext.cnf" -out "$work/next/tls.crt" 2>/dev/null
}
volume_update "$work/secret" "$work/pki/tls.crt" "$work/pki/tls.key"

# The example routing table with its template beside it (ConfigMap volumes are flat). Each config
# update moves the default tag to the other revision, so a reload that took effect shows up in the
# requests' revision label.
sed 's#templates/example-sidecar.yaml#example-sidecar.yaml#' "$repo/config/example.yaml" >"$work/next/routing-a.yaml"
sed 's/^  default: 1-23-3$/  default: 1-24-1/' "$work/next/routing-a.yaml" >"$work/next/routing-b.yaml"
cmp -s "$work/next/routing-a.yaml" "$work/next/routing-b.yaml" && fail_now "config/example.yaml no longer has 'default: 1-23-3'"
cp "$repo/config/templates/example-sidecar.yaml" "$work/next/"
config_update() {  # config_update a|b
  cp "$work/next/routing-$1.yaml" "$work/next/routing.yaml"
  volume_update "$work/configmap" "$work/next/routing.yaml" "$work/next/example-sidecar.yaml"
}
config_update a

# --- server ------------------------------------------------------------------------------------
# warn: at info the server logs every request. The watch interval is short so that a reload is
# seen within a second of its trigger.
"$bin" serve --config "$work/configmap/routing.yaml" --tls-cert "$work/secret/tls.crt" \
  --tls-key "$work/secret/tls.key" --listen 127.0.0.1:0 --health-listen 127.0.0.1:0 \
  --port-file "$work/port" --threads "$server_threads" --watch-interval 250ms \
  --drain-period 100ms --shutdown-timeout 5s --log-level warn >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 400); do
  [ -s "$work/port" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail_now "the server exited at start-up"
  sleep 0.05
done
[ -s "$work/port" ] || fail_now "the server wrote no port file"
port=$(sed -n 1p "$work/port")
health_port=$(sed -n 2p "$work/port")
url="https://127.0.0.1:$port"

metrics() {  # GET /metrics on the health port (bash only: no curl needed)
  local m
  exec 3<>"/dev/tcp/127.0.0.1/$health_port" || return 1
  printf 'GET /metrics HTTP/1.1\r\nHost: revrouter\r\nConnection: close\r\n\r\n' >&3
  m=$(cat <&3)
  exec 3<&-
  printf '%s\n' "$m" | tr -d '\r'
}
metric() {  # metric <exact series> -> value (0 if absent)
  metrics | awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }'
}
wait_metric_above() {  # wait_metric_above <series> <value>: up to 10 s; prints the new value
  local v
  for _ in $(seq 100); do
    v=$(metric "$1")
    [ "$v" -gt "$2" ] && { echo "$v"; return 0; }
    sleep 0.1
  done
  echo "$v"
  return 1
}
wait_idle() {  # until the server has no client connection, up to 10 s
  for _ in $(seq 100); do
    [ "$(metric revrouter_open_connections)" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status"; }
fd_count() { ls "/proc/$server_pid/fd" | wc -l; }
json_num() {  # json_num <file> <key> [<enclosing object>]: a number from loadtest's pretty JSON
  awk -v k="\"$2\":" -v o="${3:-}" '
    o != "" && $1 == "\"" o "\":" { inside = 1; next }
    o != "" && inside && /^  }/ { inside = 0 }
    (o == "" || inside) && $1 == k { v = $2; sub(/,$/, "", v); print v; exit }' "$1"
}
loadtest() { "$bin" loadtest --url "$url" --ca "$ca" --server-name "$host" -q --output json "$@"; }

for _ in $(seq 100); do
  [ "$(metric revrouter_ready)" = 1 ] && break
  sleep 0.1
done

# One reload cycle: the certificate rotated, the config reloaded by file and by SIGHUP; each
# must be seen in the server's counters (and the certificate on a new handshake) within 10 s.
fresh_requests=0 fresh_errors=0 config_side=a
reload_cycle() {  # reload_cycle <n>
  local cycle=$1 want got fresh_ok
  cert_ok=$(metric 'revrouter_cert_reloads_total{result="ok"}')
  config_ok=$(metric 'revrouter_config_reloads_total{result="ok"}')
  # 1. certificate rotation: Secret swap, the file watch reloads it, a new handshake gets it.
  issue_cert "$cycle"
  want=$(openssl x509 -in "$work/next/tls.crt" -noout -fingerprint -sha256)
  volume_update "$work/secret" "$work/next/tls.crt" "$work/next/tls.key"
  cert_ok=$(wait_metric_above 'revrouter_cert_reloads_total{result="ok"}' "$cert_ok") ||
    fail_now "cycle $cycle: no certificate reload within 10 s of the Secret swap"
  got=$(openssl s_client -connect "127.0.0.1:$port" -servername "$host" -CAfile "$ca" \
    -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 || true)
  [ "$got" = "$want" ] || fail_now "cycle $cycle: the server presents '$got', not the rotated '$want'"
  # New connections verify the rotated certificate and are served (the soak's own stay open).
  loadtest -c 2 -n 50 >"$work/fresh-$cycle.json" 2>&1 || true
  fresh_ok=$(json_num "$work/fresh-$cycle.json" ok requests)
  fresh_requests=$((fresh_requests + ${fresh_ok:-0}))
  fresh_errors=$((fresh_errors + 50 - ${fresh_ok:-0}))

  # 2. config reload by file: ConfigMap swap with the default tag moved.
  config_side=$([ "$config_side" = a ] && echo b || echo a)
  config_update "$config_side"
  config_ok=$(wait_metric_above 'revrouter_config_reloads_total{result="ok"}' "$config_ok") ||
    fail_now "cycle $cycle: no config reload within 10 s of the ConfigMap swap"
  sleep 0.6  # two watch intervals: a swap seen half-way by one poll may reload twice
  config_ok=$(metric 'revrouter_config_reloads_total{result="ok"}')

  # 3. config reload by SIGHUP.
  kill -HUP "$server_pid"
  config_ok=$(wait_metric_above 'revrouter_config_reloads_total{result="ok"}' "$config_ok") ||
    fail_now "cycle $cycle: no config reload within 10 s of SIGHUP"
}

# --- capacity, warm-up, baseline ---------------------------------------------------------------
if [ -z "$rate" ]; then
  loadtest -c "$connections" -d "${capacity_s}s" >"$work/capacity.json" || fail_now "the capacity run failed"
  capacity=$(json_num "$work/capacity.json" rate)
  rate=$(awk -v c="$capacity" 'BEGIN { printf "%d", c / 2 }')
  rate_note="half of the closed-loop capacity, $(printf '%.0f' "$capacity") req/s over ${capacity_s}s"
else
  rate_note="fixed"
fi
[ "$rate" -gt 0 ] || fail_now "rate $rate"
echo "soak: ${duration_s}s at $rate req/s ($rate_note), $connections connections, $reloads reload cycles"
echo "server: $bin ($build_kind), $server_threads threads; work directory $work"

# The warm-up runs the same load and one reload cycle (cycle 0) half-way, so that one-time costs
# (the first reload, a second TLS context alive beside the first while old connections hold it,
# OpenSSL's lazily built tables) are in the baseline and the 5% rule sees only growth.
loadtest --rate "$rate" -c "$connections" -d "${warmup_s}s" >"$work/warmup.json" 2>&1 &
load_pid=$!
sleep $((warmup_s / 2))
reload_cycle 0
warmup_rc=0
wait "$load_pid" || warmup_rc=$?
load_pid=""
[ "$warmup_rc" = 0 ] ||
  fail_now "the warm-up run failed: $(grep -A9 '"errors": {' "$work/warmup.json" | tr -d '\n ')"
wait_idle || fail_now "connections still open 10 s after the warm-up"
sleep 1
rss_start=$(rss_kib)
fds_start=$(fd_count)

# --- the soak ----------------------------------------------------------------------------------
loadtest --rate "$rate" -c "$connections" -d "${duration_s}s" >"$work/soak.json" 2>"$work/soak.err" &
load_pid=$!
t0=$(date +%s)
echo "0 $(rss_kib)" >"$work/rss.tsv"
next_sample=$((t0 + 5))
sample_until() {  # sleep until epoch second $1, recording VmRSS every 5 s
  while [ "$(date +%s)" -lt "$1" ]; do
    if [ "$(date +%s)" -ge "$next_sample" ]; then
      echo "$(($(date +%s) - t0)) $(rss_kib)" >>"$work/rss.tsv"
      next_sample=$((next_sample + 5))
    fi
    sleep 0.2
  done
}
for cycle in $(seq "$reloads"); do
  sample_until $((t0 + cycle * spacing))
  kill -0 "$load_pid" 2>/dev/null || fail_now "the load ended early (cycle $cycle)"
  reload_cycle "$cycle"
  echo "  cycle $cycle at $(($(date +%s) - t0))s: certificate rotated and served, config reloaded by file and SIGHUP, VmRSS $(rss_kib) KiB"
done
sample_until $((t0 + duration_s))
load_rc=0
wait "$load_pid" || load_rc=$?
load_pid=""
soak_end=$(($(date +%s) - t0))
echo "$soak_end $(rss_kib)" >>"$work/rss.tsv"

# --- end state ---------------------------------------------------------------------------------
wait_idle || fail_now "connections still open 10 s after the load ended"
sleep 1
rss_end=$(rss_kib)
fds_end=$(fd_count)
hwm=$(hwm_kib)
m=$(metrics)
series() { printf '%s\n' "$m" | awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }'; }
by_revision() { printf '%s\n' "$m" | awk -v r="revision=\"$1\"" 'index($1, "revrouter_requests_total{") == 1 && index($1, r) { n += $2 } END { print n + 0 }'; }
cert_ok=$(series 'revrouter_cert_reloads_total{result="ok"}')
cert_failed=$(series 'revrouter_cert_reloads_total{result="failed"}')
config_ok=$(series 'revrouter_config_reloads_total{result="ok"}')
config_failed=$(series 'revrouter_config_reloads_total{result="failed"}')
rev_a=$(by_revision 1-23-3)
rev_b=$(by_revision 1-24-1)

kill -TERM "$server_pid"
exit_rc=""
for _ in $(seq 200); do
  kill -0 "$server_pid" 2>/dev/null || { wait "$server_pid" && exit_rc=0 || exit_rc=$?; break; }
  sleep 0.05
done
[ -n "$exit_rc" ] && server_pid=""

issued=$(json_num "$work/soak.json" issued requests)
ok=$(json_num "$work/soak.json" ok requests)
errors=$(json_num "$work/soak.json" errors requests)
achieved=$(json_num "$work/soak.json" rate)
p50=$(json_num "$work/soak.json" p50 latencyMs)
p99=$(json_num "$work/soak.json" p99 latencyMs)
max=$(json_num "$work/soak.json" max latencyMs)
growth=$(awk -v a="$rss_start" -v b="$rss_end" 'BEGIN { printf "%+.2f", (b - a) * 100 / a }')
peak=$(sort -k2 -n "$work/rss.tsv" | tail -1 | awk '{ print $2 }')

echo
printf '%-22s %s\n' "requests" "${issued:-?} issued, ${ok:-?} ok, ${errors:-?} errors; $(printf '%.1f' "${achieved:-0}") req/s achieved (loadtest exit $load_rc)"
printf '%-22s %s\n' "latency (open loop)" "p50 ${p50}ms  p99 ${p99}ms  max ${max}ms"
printf '%-22s %s\n' "after rotations" "$fresh_requests requests over new connections, $fresh_errors errors"
printf '%-22s %s\n' "cert reloads" "$cert_ok ok, $cert_failed failed ($((reloads + 1)) rotations, one in the warm-up)"
printf '%-22s %s\n' "config reloads" "$config_ok ok, $config_failed failed ($((reloads + 1)) file swaps + $((reloads + 1)) SIGHUP)"
printf '%-22s %s\n' "requests by revision" "1-23-3 $rev_a, 1-24-1 $rev_b"
printf '%-22s %s\n' "VmRSS" "$rss_start KiB after warm-up, $rss_end KiB at the end ($growth%), peak sample $peak KiB, VmHWM $hwm KiB"
printf '%-22s %s\n' "open descriptors" "$fds_start after warm-up, $fds_end at the end"
printf '%-22s %s\n' "SIGTERM" "exit ${exit_rc:-none within 10 s}"

problems=()
[ "$load_rc" = 0 ] || problems+=("loadtest exited $load_rc: $(grep -A9 '"errors": {' "$work/soak.json" | tr -d '\n ' || true)")
[ "${errors:-x}" = 0 ] && [ "${ok:-x}" = "${issued:-y}" ] || problems+=("failed requests: ${errors:-?} of ${issued:-?}")
[ "${issued:-0}" -gt 0 ] || problems+=("no requests issued")
[ "$fresh_errors" = 0 ] || problems+=("$fresh_errors failed requests over new connections after rotations")
[ "$cert_ok" -ge $((reloads + 1)) ] && [ "$cert_failed" = 0 ] ||
  problems+=("cert reloads: $cert_ok ok, $cert_failed failed, want $((reloads + 1)) ok")
[ "$config_ok" -ge $((2 * (reloads + 1))) ] && [ "$config_failed" = 0 ] ||
  problems+=("config reloads: $config_ok ok, $config_failed failed, want $((2 * (reloads + 1))) ok")
[ "$rev_a" -gt 0 ] && [ "$rev_b" -gt 0 ] || problems+=("the reloaded default tag never took effect (1-23-3 $rev_a, 1-24-1 $rev_b)")
awk -v a="$rss_start" -v b="$rss_end" 'BEGIN { exit !((b - a) * 100 < 5 * a) }' ||
  problems+=("VmRSS grew $growth% (limit 5%)")
[ "$fds_end" = "$fds_start" ] || problems+=("open descriptors $fds_start -> $fds_end")
[ "$exit_rc" = 0 ] || problems+=("the server did not exit 0 on SIGTERM (${exit_rc:-still running}); log: $work/server.log")

if [ ${#problems[@]} -gt 0 ]; then
  failed=1
  echo "FAILED:"
  printf '  %s\n' "${problems[@]}"
  exit 1
fi
echo "PASSED"

#!/usr/bin/env bash
# What the proxy hop costs (issue #5): one "istiod" upstream (a revrouter serving the example table
# with local injection, its own CA and the DNS name istiod-up.istio-system.svc), then
#   1. latency: `revrouter loadtest` open loop at --rate against the upstream directly and through
#      a revrouter whose revision `up` is `backend: proxy` to it (pooled TLS, CA + name verified,
#      answer checked and re-written), in alternating rounds; prints p50/p99 of each and the
#      added latency (medians over the rounds);
#   2. throughput: wrk closed loop against that revrouter proxy and against nginx `proxy_pass` to
#      the same upstream with the same TLS (verified, session reuse, keep-alive pool), alternating;
#      prints requests/s and the ratio.
# A benchmark, not a test: it installs nginx and wrk (Debian packages) if missing; needs a quiet
# machine. Every number it prints is a median of --rounds runs made in this one script.
#
# Usage: bench/proxy_hop.sh [--rate 2000] [--duration 10] [--rounds 3] [--connections 16]
# Environment: REVROUTER_BIN (default: a Release build in build-e2e), PORT_BASE (default 18543).
set -euo pipefail

rate=2000 duration=10 rounds=3 connections=16 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
port_base=${PORT_BASE:-18543}
up_port=$port_base
proxy_port=$((port_base + 1))
nginx_port=$((port_base + 2))
path='/inject/ns-injection/enabled'

need=()
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/sbin/nginx ] || need+=(nginx)
command -v jq >/dev/null || need+=(jq)
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

work=$(mktemp -d /tmp/revrouter-proxyhop-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "$keep" = 1 ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
[ -n "${PROXY_HOP_PAUSE:-}" ] && echo "work dir $work"
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listening on port $1" >&2
  return 1
}

# --- the upstream "istiod" and the proxy --------------------------------------------------------
"$REVROUTER_BIN" certs --service istiod-up --namespace istio-system --out-dir "$work/up-certs" >/dev/null 2>&1
"$REVROUTER_BIN" certs --service revrouter --namespace istio-system --out-dir "$work/certs" >/dev/null 2>&1
mkdir -p "$work/config/templates"
cp "$repo/config/example.yaml" "$work/config/"
cp "$repo/config/templates/example-sidecar.yaml" "$work/config/templates/"
cat >"$work/config/proxy.yaml" <<YAML
revisions:
  up:
    backend: proxy
    # The upstream is a revrouter, which reads namespace labels from its path (istiod does not
    # need them): the URL's path carries them, the proxied request's own ns-* segments do not.
    url: https://127.0.0.1:$up_port/inject/ns-injection/enabled
    caFile: $work/up-certs/ca.crt
    serverName: istiod-up.istio-system.svc
    onFailure: fail-closed
tags:
  default: up
YAML

"$REVROUTER_BIN" serve --config "$work/config/example.yaml" \
  --tls-cert "$work/up-certs/tls.crt" --tls-key "$work/up-certs/tls.key" \
  --listen "127.0.0.1:$up_port" --threads 1 --log-level warn 2>"$work/upstream.log" &
pids+=($!)
"$REVROUTER_BIN" serve --config "$work/config/proxy.yaml" \
  --tls-cert "$work/certs/tls.crt" --tls-key "$work/certs/tls.key" \
  --listen "127.0.0.1:$proxy_port" --threads 1 --log-level warn 2>"$work/proxy.log" &
pids+=($!)
wait_port "$up_port"
wait_port "$proxy_port"

# --- nginx proxy_pass to the same upstream ------------------------------------------------------
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/client_body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_timeout 120s;
  keepalive_requests 100000000;
  client_max_body_size 6m;
  client_body_buffer_size 64k;
  proxy_buffer_size 64k;
  proxy_buffers 8 64k;
  upstream istiod { server 127.0.0.1:$up_port; keepalive 64; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $work/certs/tls.crt;
    ssl_certificate_key $work/certs/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_session_cache shared:SSL:10m;
    location /inject {
      proxy_pass https://istiod;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $work/up-certs/ca.crt;
      proxy_ssl_name istiod-up.istio-system.svc;
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
    }
  }
}
NGINX
/usr/sbin/nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)
wait_port "$nginx_port"

cp "$repo/tests/server/data/pod-create.v1.json" "$work/request.json"
for target in "$up_port:istiod-up" "$proxy_port:revrouter" "$nginx_port:revrouter"; do
  port=${target%%:*} svc=${target#*:}
  ca="$work/certs/ca.crt"; [ "$svc" = istiod-up ] && ca="$work/up-certs/ca.crt"
  curl -sS --fail --cacert "$ca" --resolve "$svc.istio-system.svc:$port:127.0.0.1" \
    -H 'Content-Type: application/json' --data-binary @"$work/request.json" \
    "https://$svc.istio-system.svc:$port$path" >"$work/check-$port.json"
  grep -q '"patchType":"JSONPatch"' "$work/check-$port.json" || {
    echo "port $port did not answer with a patch:" >&2; head -c 400 "$work/check-$port.json" >&2; exit 1; }
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- 1. latency: direct vs through revrouter's proxy hop ----------------------------------------
loadtest() {  # loadtest <port> <ca> <server name> -> JSON
  "$REVROUTER_BIN" loadtest --url "https://127.0.0.1:$1$path" --ca "$2" --server-name "$3" \
    -c "$connections" --rate "$rate" -d "${duration}s" --output json -q "$work/request.json"
}
: >"$work/lat-direct" ; : >"$work/lat-proxy"
echo "latency: open loop at $rate req/s, $connections connections, ${duration}s, $rounds rounds"
for r in $(seq "$rounds"); do
  d=$(loadtest "$up_port" "$work/up-certs/ca.crt" istiod-up.istio-system.svc)
  p=$(loadtest "$proxy_port" "$work/certs/ca.crt" revrouter.istio-system.svc)
  for pair in "direct:$d" "proxy:$p"; do
    name=${pair%%:*} json=${pair#*:}
    errs=$(jq '.requests.errors' <<<"$json")
    [ "$errs" = 0 ] || { echo "$name run had $errs errors" >&2; jq . <<<"$json" >&2; exit 1; }
    jq -r '[.latencyMs.p50, .latencyMs.p99, .rate] | @tsv' <<<"$json" >>"$work/lat-$name"
  done
  printf '  round %d: direct p50 %s p99 %s ms | proxy p50 %s p99 %s ms\n' "$r" \
    "$(tail -1 "$work/lat-direct" | cut -f1)" "$(tail -1 "$work/lat-direct" | cut -f2)" \
    "$(tail -1 "$work/lat-proxy" | cut -f1)" "$(tail -1 "$work/lat-proxy" | cut -f2)"
done
d50=$(cut -f1 "$work/lat-direct" | median); d99=$(cut -f2 "$work/lat-direct" | median)
p50=$(cut -f1 "$work/lat-proxy" | median); p99=$(cut -f2 "$work/lat-proxy" | median)
awk -v d50="$d50" -v d99="$d99" -v p50="$p50" -v p99="$p99" 'BEGIN {
  printf "median p50: direct %.3f ms, via revrouter %.3f ms, added %.0f us\n", d50, p50, (p50 - d50) * 1000
  printf "median p99: direct %.3f ms, via revrouter %.3f ms, added %.0f us\n", d99, p99, (p99 - d99) * 1000
}'

# --- 2. throughput: revrouter proxy vs nginx proxy_pass ------------------------------------------
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/request.json", "rb")
wrk.body = f:read("*a")
f:close()
LUA
: >"$work/rps-revrouter"; : >"$work/rps-nginx"
echo "throughput: wrk 1 thread, $connections connections, ${duration}s, $rounds rounds"
for r in $(seq "$rounds"); do
  for pair in "revrouter:$proxy_port" "nginx:$nginx_port"; do
    name=${pair%%:*} port=${pair#*:}
    out=$(wrk -t1 -c"$connections" -d"${duration}s" -s "$work/post.lua" "https://127.0.0.1:$port$path")
    if grep -q -E 'Non-2xx|Socket errors' <<<"$out"; then
      echo "$name run had errors:" >&2; grep -E 'Non-2xx|Socket errors' <<<"$out" >&2; exit 1
    fi
    awk '/^Requests\/sec:/ { print $2 }' <<<"$out" >>"$work/rps-$name"
  done
  printf '  round %d: revrouter %s req/s, nginx %s req/s\n' "$r" \
    "$(tail -1 "$work/rps-revrouter")" "$(tail -1 "$work/rps-nginx")"
done
rr=$(median <"$work/rps-revrouter"); ng=$(median <"$work/rps-nginx")
awk -v rr="$rr" -v ng="$ng" 'BEGIN {
  printf "median throughput: revrouter proxy %.0f req/s, nginx proxy_pass %.0f req/s, ratio %.3f\n", rr, ng, rr / ng }'
echo "revrouter proxy upstream handshakes: $(curl -s "https://127.0.0.1:$proxy_port/metrics" -k |
  awk '/^revrouter_upstream_handshakes_total/ { printf "%s=%s ", $1, $2 }')"

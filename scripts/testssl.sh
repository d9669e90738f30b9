#!/usr/bin/env bash
# TLS scan of the webhook port: starts `revrouter serve --dev` on 127.0.0.1 and runs Debian's
# testssl.sh against it (loopback only: no DNS, no CRL/OCSP downloads). Prints a summary and exits
# non-zero unless
#   - no protocol below TLS 1.2 is offered (SSLv2, SSLv3, TLS 1.0, TLS 1.1 all "not offered"),
#   - no weak cipher category is offered (NULL, aNULL, EXPORT, LOW, 3DES/IDEA, RC4, and the
#     non-AEAD CBC suites testssl calls "obsoleted"), and
#   - no finding has severity HIGH or CRITICAL (except the waivers below, which do not apply to
#     a webhook and are printed with their reason), and the scan itself reported no problem.
# The full JSON, CSV and log stay in the output directory for inspection.
#
# Usage: scripts/testssl.sh [--fast]      (--fast: skip the per-protocol cipher list and the
#                                           implementation-bug checks of --full)
# Environment: REVROUTER_BIN (default: the Release build of scripts/dev.sh in build/release,
#   built or brought up to date; REVROUTER_DEV_BUILD picks another build directory),
#   TESTSSL_OUT (default: <build dir>/testssl, or next to REVROUTER_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

scope=--full
while [ $# -gt 0 ]; do
  case "$1" in
    --fast) scope=""; shift ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

# --- tools -------------------------------------------------------------------------------------
# Debian's package installs the script as `testssl`; upstream calls it testssl.sh.
testssl=$(command -v testssl || command -v testssl.sh || true)
if [ -z "$testssl" ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -y -q install testssl.sh >/dev/null ||
    { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get -y -q install testssl.sh; }
  testssl=$(command -v testssl || command -v testssl.sh)
fi

if [ -z "${REVROUTER_BIN:-}" ]; then
  bash scripts/deps.sh
  build=${REVROUTER_DEV_BUILD:-build/release}
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DREVROUTER_TESTS=OFF \
    -DREVROUTER_BENCH=OFF >/dev/null
  cmake --build "$build" --target revrouter -j"$(nproc)" >/dev/null
  REVROUTER_BIN="$repo/$build/tools/revrouter"
  out=${TESTSSL_OUT:-$repo/$build/testssl}
else
  out=${TESTSSL_OUT:-$(cd "$(dirname "$REVROUTER_BIN")/.." && pwd)/testssl}
fi

# --- server ------------------------------------------------------------------------------------
rm -rf "$out"
mkdir -p "$out"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

# --dev: certificates from the same generator as `revrouter certs` (fresh ones in $out/dev) and the
# embedded example config; the scan sees what a real deployment's defaults give.
"$REVROUTER_BIN" serve --dev --dev-dir "$out/dev" --listen 127.0.0.1:0 \
  --health-listen 127.0.0.1:0 --port-file "$out/port" --log-level warn >"$out/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 200); do
  [ -s "$out/port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/server.log" >&2; exit 1; }
  sleep 0.05
done
[ -s "$out/port" ] || { echo "the server did not write its port file" >&2; exit 1; }
port=$(sed -n 1p "$out/port")
host=revrouter.istio-system.svc  # the name kube-apiserver verifies (a SAN of the certificate)

# --- scan --------------------------------------------------------------------------------------
# --ip/--nodns none: connect to 127.0.0.1 and resolve nothing; the URI's name is the SNI and the
# name checked against the certificate. --add-ca: the dev CA, as the webhook's caBundle would be.
# No --phone-out, so no CRL or OCSP is fetched.
echo "testssl ($({ "$testssl" --version 2>/dev/null || true; } | grep -m1 -o '[0-9][0-9.]*[0-9]' || echo '?')) against $host:$port on 127.0.0.1 ${scope:-(default checks)}"
scan_status=0
"$testssl" --quiet --color 0 --warnings off --nodns none --ip 127.0.0.1 \
  --add-ca "$out/dev/ca.crt" --connect-timeout 10 --openssl-timeout 10 --sneaky $scope \
  --jsonfile "$out/testssl.json" --csvfile "$out/testssl.csv" --logfile "$out/testssl.log" \
  "$host:$port" >/dev/null 2>"$out/testssl.stderr" || scan_status=$?
# testssl's exit code is the count of some findings, not a verdict: the JSON decides.
[ -s "$out/testssl.json" ] || { echo "testssl wrote no JSON (exit $scan_status):" >&2; cat "$out/testssl.stderr" >&2; exit 1; }
kill -0 "$server_pid" 2>/dev/null || { echo "the server died during the scan:" >&2; cat "$out/server.log" >&2; exit 1; }

# Flat JSON, one "key": "value" per line: id, severity, finding as tab-separated rows.
awk '
  function val(line) { sub(/^[^:]*: *"/, "", line); sub(/",? *$/, "", line); return line }
  /^ *"id" *:/ { id = val($0) }
  /^ *"severity" *:/ { sev = val($0) }
  /^ *"finding" *:/ { finding = val($0) }
  /^ *}/ { if (id != "") print id "\t" sev "\t" finding; id = sev = finding = "" }
' "$out/testssl.json" >"$out/findings.tsv"
[ -s "$out/findings.tsv" ] || { echo "no findings parsed from $out/testssl.json" >&2; exit 1; }

# HIGH/CRITICAL findings that do not apply to an admission webhook, each with the reason. A
# waiver matches one id with one exact finding text; anything else at HIGH or CRITICAL fails, and
# waived findings are printed with their reason on every run.
waivers=(
  "cert_revocation|Neither CRL nor OCSP URI provided|kube-apiserver trusts the webhook only through the caBundle of its private CA and checks no CRL or OCSP (Go's TLS client does neither); a compromised key is answered by rotating the serving certificate (and CA), which the server reloads without a restart"
)
waiver_for() {  # waiver_for <id> <finding> -> the reason, or nothing
  local w
  for w in "${waivers[@]}"; do
    [ "${w%%|*}" = "$1" ] || continue
    local rest=${w#*|}
    [ "${rest%%|*}" = "$2" ] && { echo "${rest#*|}"; return; }
  done
}

failures=()
finding_of() { awk -F'\t' -v id="$1" '$1 == id { print $3; exit }' "$out/findings.tsv"; }
severity_of() { awk -F'\t' -v id="$1" '$1 == id { print $2; exit }' "$out/findings.tsv"; }

# --- summary -----------------------------------------------------------------------------------
echo
echo "protocols"
for p in SSLv2 SSLv3 TLS1 TLS1_1 TLS1_2 TLS1_3; do
  f=$(finding_of "$p")
  printf '  %-7s %s\n' "$p" "${f:-(not tested)}"
  case "$p" in
    SSLv2 | SSLv3 | TLS1 | TLS1_1)
      [[ "$f" == "not offered"* ]] || failures+=("$p: ${f:-not tested} (must be not offered)") ;;
  esac
done

echo "cipher categories (all but STRONG must be \"not offered\")"
# 3.0's names; the weak ones must exist in the output, so a renamed id fails rather than passes.
for c in cipherlist_NULL cipherlist_aNULL cipherlist_EXPORT cipherlist_LOW cipherlist_3DES_IDEA \
  cipherlist_AVERAGE cipherlist_STRONG RC4; do
  f=$(finding_of "$c")
  printf '  %-20s %-9s %s\n' "$c" "$(severity_of "$c")" "${f:-(not tested)}"
  [ "$c" = cipherlist_STRONG ] && continue
  [[ "$f" == "not offered"* || "$f" == "not vulnerable"* || "$f" == "no RC4 ciphers detected"* ]] ||
    failures+=("$c: ${f:-not tested}")
done

echo "cipher suites offered"
# --full lists each protocol's suites as cipher-<proto>_x<hex>; every run has the server's order.
awk -F'\t' '$1 ~ /^cipher-tls/ { f = $3; gsub(/  +/, " ", f); print "  " f }' "$out/findings.tsv"
awk -F'\t' '$1 ~ /^cipherorder_/ || $1 == "cipher_order" || $1 ~ /^P?FS$/ || $1 ~ /^P?FS_ECDHE_curves$/ ||
  $1 == "protocol_negotiated" || $1 == "cipher_negotiated" { print "  " $1 ": " $3 }' "$out/findings.tsv"

echo "findings by severity"
for s in CRITICAL HIGH MEDIUM LOW WARN OK INFO; do
  printf '  %-8s %s\n' "$s" "$(awk -F'\t' -v s="$s" '$2 == s' "$out/findings.tsv" | wc -l)"
done
awk -F'\t' '$2 == "CRITICAL" || $2 == "HIGH" || $2 == "MEDIUM" || $2 == "LOW" || $2 == "WARN" {
  print "  " $2 "  " $1 ": " $3 }' "$out/findings.tsv"
waived=()
while IFS=$'\t' read -r id sev finding; do
  reason=$(waiver_for "$id" "$finding")
  if [ -n "$reason" ]; then
    waived+=("$sev $id: $finding -- $reason")
  else
    failures+=("$sev $id: $finding")
  fi
done < <(awk -F'\t' '$2 == "CRITICAL" || $2 == "HIGH"' "$out/findings.tsv")
# A scan problem means the verdict above rests on an incomplete scan.
while IFS=$'\t' read -r id sev finding; do
  failures+=("scan problem $id ($sev): $finding")
done < <(awk -F'\t' '$1 == "scanProblem" || $2 == "FATAL"' "$out/findings.tsv")

echo
echo "full output: $out/testssl.{json,csv,log}"
if [ ${#waived[@]} -gt 0 ]; then
  echo "waived (not applicable to a webhook; see the waivers in $0):"
  printf '  %s\n' "${waived[@]}"
fi
if [ ${#failures[@]} -gt 0 ]; then
  echo "FAILED:"
  printf '  %s\n' "${failures[@]}"
  exit 1
fi
echo "PASSED: TLS 1.2+ only, no weak cipher category, no HIGH or CRITICAL finding${waived:+ beyond the waived ones}"

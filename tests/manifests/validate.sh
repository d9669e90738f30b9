#!/usr/bin/env bash
# Validates every manifest revrouter ships or generates against the Kubernetes schemas
# (validate.js: the kubernetes-models package's OpenAPI validation, unknown fields, and the API
# server's webhook-configuration rules):
#   - every YAML file in manifests/;
#   - MutatingWebhookConfigurations from `revrouter manifests` for config/example.yaml, in both
#     precedence modes and with every option that changes their shape;
#   - and, so a validator that accepts everything cannot pass, every file in
#     tests/manifests/invalid/ must be rejected for the reason its "# expect:" line gives.
# Usage: validate.sh [path/to/revrouter]   (default: $REVROUTER_BINARY, then build*/tools/revrouter)
# Installs the pinned npm packages into tests/manifests/node_modules from package-lock.json when
# any is missing or at another version (npm ci; packages in npm's cache are used first). Exits non-zero, naming each
# invalid file and problem, when anything is wrong.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

revrouter=${1:-${REVROUTER_BINARY:-}}
if [ -z "$revrouter" ]; then
  revrouter=$(ls -t "$root"/build*/tools/revrouter "$root"/build/*/tools/revrouter 2>/dev/null | head -n1 || true)
fi
if [ -z "$revrouter" ] || [ ! -x "$revrouter" ]; then
  echo "validate.sh: no revrouter binary (pass its path, or set REVROUTER_BINARY)" >&2
  exit 2
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "validate.sh: installing nodejs and npm (Debian packages)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi

# Installed exactly as locked? Every package of the lockfile at its version, or npm ci.
installed() {
  (cd "$here" && node -e '
    const lock = require("./package-lock.json").packages;
    for (const [dir, p] of Object.entries(lock)) {
      if (!dir) continue;
      try { if (require("./" + dir + "/package.json").version !== p.version) process.exit(1); }
      catch (e) { process.exit(1); }
    }')
}
if ! installed; then
  (cd "$here" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A pod-override copy of the example table (templates resolve beside it).
cp -r "$root/config/templates" "$work/templates"
sed 's/^mode: istio$/mode: pod-override/' "$root/config/example.yaml" > "$work/pod-override.yaml"
grep -q '^mode: pod-override$' "$work/pod-override.yaml" || {
  echo "validate.sh: config/example.yaml has no 'mode: istio' line to flip" >&2
  exit 1
}
"$revrouter" certs --service revrouter --namespace istio-system --out-dir "$work/certs" \
  >/dev/null 2>"$work/certs.log" || { cat "$work/certs.log" >&2; exit 1; }

generate() {  # name, config, extra args...
  local name=$1 config=$2
  shift 2
  if ! "$revrouter" manifests --config "$config" --out "$work/$name.yaml" "$@" 2>"$work/$name.log"; then
    echo "validate.sh: revrouter manifests $* failed:" >&2
    cat "$work/$name.log" >&2
    exit 1
  fi
}
generate mwc-istio "$root/config/example.yaml" --ca-file "$work/certs/ca.crt"
generate mwc-pod-override "$work/pod-override.yaml" --ca-file "$work/certs/ca.crt"
generate mwc-tuned "$root/config/example.yaml" --name revrouter-canary --service rr \
  --namespace mesh --port 8443 --failure-policy Ignore --timeout-seconds 30 \
  --reinvocation-policy IfNeeded --cluster east --network net1 --inject-ca-from mesh/rr-serving
generate mwc-url "$root/config/example.yaml" --url https://10.0.0.5:15017 --cluster Kubernetes \
  --ca-bundle "$(base64 -w0 < "$work/certs/ca.crt")"
generate mwc-only-canary "$root/config/example.yaml" --only canary --ca-file "$work/certs/ca.crt"

cd "$root"
status=0
node "$here/validate.js" manifests/*.yaml "$work"/mwc-*.yaml || status=1
node "$here/validate.js" --expect-invalid tests/manifests/invalid/*.yaml || status=1
exit $status
